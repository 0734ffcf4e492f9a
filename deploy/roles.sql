-- One login per ktrdr group role (sql/95_roles.sql creates the groups on `ktrdr migrate`), with the
-- passwords given as psql variables: psql -v worker_password=… -v admin_password=…
-- -v reader_password=… -f deploy/roles.sql. Idempotent: re-running resets the passwords.
SELECT format('CREATE ROLE %I LOGIN IN ROLE %I', login, grp)
FROM (VALUES ('ktrdr_worker_login', 'ktrdr_worker'), ('ktrdr_admin_login', 'ktrdr_admin'),
             ('ktrdr_reader_login', 'ktrdr_reader')) AS r(login, grp)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) \gexec
ALTER ROLE ktrdr_worker_login PASSWORD :'worker_password';
ALTER ROLE ktrdr_admin_login PASSWORD :'admin_password';
ALTER ROLE ktrdr_reader_login PASSWORD :'reader_password';
