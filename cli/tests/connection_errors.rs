//! A server that cannot be reached, or that refuses the login, through the `ktrdr` binary: one line
//! on stderr naming the server (without its password) and what to fix, and a non-zero exit — at
//! once for a refused connection, which the pool alone would retry until it "timed out".

mod support;

use std::net::TcpListener;
use support::ktrdr;

/// Runs `ops list` and `ticker` on `url`; each must fail with exactly `expected` on stderr.
fn refused_with(url: &str, expected: &str) {
    for args in [&["ops", "list"][..], &["ticker"]] {
        let output = ktrdr(url, args);
        assert!(!output.status.success(), "{args:?} on {url}: {output:?}");
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("{expected}\n"),
            "{args:?} on {url}"
        );
    }
}

/// A local port nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn a_refused_connection_says_so_at_once() {
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", closed_port());
    refused_with(
        &url,
        &format!(
            "error: cannot connect to PostgreSQL at {url}: connection refused — is the server \
             running? (check DATABASE_URL)"
        ),
    );
}

#[test]
fn a_host_that_does_not_resolve_is_named_as_not_found() {
    let url = "postgres://postgres@nonexistent.invalid/postgres";
    refused_with(
        url,
        &format!(
            "error: cannot connect to PostgreSQL at {url}: host not found — check the host name \
             in DATABASE_URL"
        ),
    );
}

#[test]
fn a_server_that_never_answers_times_out() {
    // Listening, so the connection is accepted by the kernel, but nothing ever answers the login.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let output = ktrdr(&url, &["ops", "list"]);
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: cannot connect to PostgreSQL at {url}: no answer within 5 s — is the host \
             reachable, and the port right? (check DATABASE_URL)\n"
        )
    );
}

#[test]
fn a_missing_database_and_an_unknown_user_say_what_to_fix() -> anyhow::Result<()> {
    let url = ktrdr_testkit::server_url_as(None, "ktrdr_no_such_database")?;
    refused_with(
        &url,
        &format!(
            "error: cannot connect to PostgreSQL at {}: database \"ktrdr_no_such_database\" \
             does not exist — create it (createdb), or fix the database name in DATABASE_URL",
            ktrdr::RedactedUrl(&url)
        ),
    );

    let url = ktrdr_testkit::server_url_as(Some("ktrdr_no_such_user:s3cret"), "postgres")?;
    let shown = ktrdr::RedactedUrl(&url).to_string();
    assert!(shown.contains("ktrdr_no_such_user:***@"), "{shown}");
    // The server's wording depends on its authentication method: trust and peer name the role,
    // password methods the failed password.
    for args in [&["ops", "list"][..], &["ticker"]] {
        let output = ktrdr(&url, args);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let prefix =
            format!("error: cannot connect to PostgreSQL at {shown}: authentication failed: ");
        assert!(stderr.starts_with(&prefix), "{stderr}");
        assert!(
            stderr.ends_with(" — check the user and password in DATABASE_URL\n"),
            "{stderr}"
        );
        assert!(stderr.contains("\"ktrdr_no_such_user\""), "{stderr}");
        assert!(
            !stderr.contains("s3cret"),
            "the password is never shown: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    Ok(())
}
