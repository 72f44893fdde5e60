"""Personal data overwritten in the scratch database, column by column (docs/operations.md lists the same).

Runs after the audit chain was verified: the chain's hashes cover ``ip`` and
``user_agent``, so a sanitised copy no longer verifies (by design: it is no
longer the record). Raw SQL on a scratch database only; the audit table's
append-only trigger is disabled there for the update.
"""

from __future__ import annotations

SANDBOX_DOMAIN = "sandbox.invalid"

# (table, SET clause, why). Tables a deployment does not have are skipped.
SANITISE: tuple[tuple[str, str, str], ...] = (
    ("auth_user", f"email = 'user' || id || '@{SANDBOX_DOMAIN}', first_name = '', last_name = '', password = '!'",
     "people's addresses and names; passwords unusable"),
    ("audit_auditentry", "ip = NULL, user_agent = ''", "client addresses and browsers of operators"),
    ("axes_accessattempt", "ip_address = NULL, user_agent = '', username = 'user-' || id, "
     "get_data = '', post_data = '', http_accept = '', path_info = ''", "login attempts"),
    ("axes_accessfailurelog", "ip_address = NULL, user_agent = '', username = 'user-' || id, "
     "http_accept = '', path_info = ''", "failed logins"),
    ("axes_accesslog", "ip_address = NULL, user_agent = '', username = 'user-' || id, "
     "http_accept = '', path_info = ''", "logins"),
    ("webhooks_webhookrejection", "remote_ip = NULL, user_agent = ''", "senders of rejected webhooks"),
    ("webhooks_webhooksource", "secrets = '[\"sandbox-redacted\"]'::jsonb", "inbound signing secrets"),
    ("webhooks_webhookdestination", "signing_secret = 'sandbox-redacted'", "outbound signing secrets"),
    ("webhooks_webhookevent", "headers = '{}'::jsonb, body = ''::bytea", "payloads (may carry customer data)"),
    ("webhooks_webhookfailure", "payload = ''::bytea", "dead-lettered payloads"),
    ("incidents_notificationchannel", "config = '{}'::jsonb", "page targets: webhook URLs, addresses, provider keys"),
    ("incidents_usercontact", "phone_number = ''", "people's phone numbers (SMS pages)"),
    ("api_idempotencykey", "response_body = NULL, response_headers = '{}'::jsonb", "replayable API answers"),
    ("django_session", None, "sessions (deleted)"),
)


def sanitise(cursor) -> dict[str, int]:
    """Apply ``SANITISE``; returns rows touched per table."""
    touched: dict[str, int] = {}
    for table, assignments, _why in SANITISE:
        cursor.execute("SELECT to_regclass(%s)", [table])
        if cursor.fetchone()[0] is None:
            continue
        if table == "audit_auditentry":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        if assignments is None:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - names from the constant above
        else:
            cursor.execute(f"UPDATE {table} SET {assignments}")  # noqa: S608 - names from the constant above
        touched[table] = cursor.rowcount
        if table == "audit_auditentry":
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
    return touched
