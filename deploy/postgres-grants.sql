-- Privileges of the application's database role (docs/operations.md, "Database roles").
-- Run as the owner role (opsportal_owner, which runs `manage.py migrate`) after every migrate:
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f deploy/postgres-grants.sql
-- opsportal_app is the role web, ws, worker and beat connect as. It can read and write the
-- application's tables but only INSERT and SELECT the audit trail: no UPDATE, DELETE or
-- TRUNCATE, and as a non-owner it cannot disable the append-only trigger either.
-- tests/security/test_db_grants.py runs this file against the test database.

GRANT USAGE ON SCHEMA public TO opsportal_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO opsportal_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO opsportal_app;
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_auditentry FROM opsportal_app;
GRANT SELECT, INSERT ON audit_auditentry TO opsportal_app;
-- Tables later migrations create get the same rights (the audit table keeps the ones above).
ALTER DEFAULT PRIVILEGES FOR ROLE opsportal_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO opsportal_app;
ALTER DEFAULT PRIVILEGES FOR ROLE opsportal_owner IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO opsportal_app;
