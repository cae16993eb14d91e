-- The console's accounts (console.accounts.PostgresAccountTables): users and roles, login sessions (only each
-- token's SHA-256), failed logins, and the account log. In schema `console`, as the embedded file names them;
-- times are epoch seconds, as there.
CREATE SCHEMA console;
CREATE TABLE console.users (
    name text PRIMARY KEY, role text NOT NULL, password_hash text NOT NULL, disabled boolean NOT NULL DEFAULT false,
    created_at double precision NOT NULL
);
CREATE TABLE console.sessions (
    token_hash text PRIMARY KEY, name text NOT NULL, csrf_token text NOT NULL, created_at double precision NOT NULL,
    expires_at double precision NOT NULL
);
CREATE INDEX sessions_by_user ON console.sessions (name);
CREATE TABLE console.login_failures (name text NOT NULL, client text NOT NULL, at double precision NOT NULL);
CREATE INDEX failures_by_name ON console.login_failures (name, at);
CREATE INDEX failures_by_client ON console.login_failures (client, at);
CREATE TABLE console.account_log (
    seq bigserial PRIMARY KEY, at double precision NOT NULL, actor text NOT NULL, action text NOT NULL,
    target text NOT NULL, details text NOT NULL
);
