//! The embedded cluster's password: generated at creation into a file only its owner can read, in
//! the URL that `ktrdr db url` prints (and only there, unmasked), required by the server — and a
//! cluster made before passwords (trust authentication) converted on its next start.

mod support;

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command};

use ktrdr::{
    Error,
    db::{self, ConnectFailure},
};
use ktrdr_testkit::TempCluster;
use serde_json::Value;
use support::stderr;

/// Runs `ktrdr args` on the cluster kept in `home` (no DATABASE_URL).
fn ktrdr_embedded(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("KTRDR_HOME", home)
        .output()
        .expect("the ktrdr binary runs")
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `url` with its password taken out.
fn without_password(url: &str, password: &str) -> String {
    let stripped = url.replace(&format!(":{password}@"), "@");
    assert_ne!(stripped, url, "{url} carries the password");
    stripped
}

/// Asserts the server refuses `url` as a wrong login (not as unreachable).
async fn assert_login_refused(url: &str) {
    match db::connect_with_size(url, 1).await {
        Err(Error::Unreachable {
            cause: ConnectFailure::Authentication(message),
            ..
        }) => assert!(message.contains("password"), "{message}"),
        Err(other) => panic!("expected an authentication failure, got: {other}"),
        Ok(_) => panic!("{url} was let in without a password"),
    }
}

fn read_password(cluster: &TempCluster) -> String {
    let file = cluster.cluster.password_file();
    std::fs::read_to_string(&file)
        .unwrap_or_else(|err| panic!("{}: {err}", file.display()))
        .trim()
        .to_string()
}

#[tokio::test]
async fn a_new_cluster_requires_the_password_kept_in_an_owner_only_file() -> anyhow::Result<()> {
    let cluster = TempCluster::start()?;
    let file = cluster.cluster.password_file();
    assert_eq!(mode_of(&file), 0o600, "{}", file.display());
    let password = read_password(&cluster);
    assert!(password.len() >= 32, "{password}");
    assert!(
        cluster.url.contains(&format!("ktrdr:{password}@")),
        "{}",
        cluster.url
    );

    let pool = db::connect_with_size(&cluster.url, 1).await?;
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&pool)
        .await?;
    assert_eq!(user, "ktrdr");
    let method: String =
        sqlx::query_scalar("SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules")
            .fetch_one(&pool)
            .await?;
    assert_eq!(method, "scram-sha-256");
    assert_login_refused(&without_password(&cluster.url, &password)).await;
    assert_login_refused(&cluster.url.replace(&password, "wrong")).await;

    // `db url` prints it with the password; `db status` and every notice mask it.
    let url = ktrdr_embedded(&cluster.home(), &["db", "url"]);
    assert!(url.status.success(), "{}", stderr(&url));
    assert_eq!(String::from_utf8_lossy(&url.stdout).trim(), cluster.url);
    let status = ktrdr_embedded(&cluster.home(), &["db", "status", "--json"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let shown: Value = serde_json::from_slice(&status.stdout)?;
    assert_eq!(shown["reachable"], true, "{shown}");
    assert_eq!(
        shown["url"].as_str().unwrap(),
        cluster.url.replace(&password, "***")
    );
    let listed = ktrdr_embedded(&cluster.home(), &["ops", "list", "--json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(!stderr(&listed).contains(&password), "{}", stderr(&listed));
    assert!(
        stderr(&listed).contains("ktrdr:***@"),
        "{}",
        stderr(&listed)
    );
    Ok(())
}

#[tokio::test]
async fn a_cluster_made_with_trust_authentication_is_converted_on_its_next_start()
-> anyhow::Result<()> {
    let cluster = TempCluster::start()?;
    let old_password = read_password(&cluster);
    let passwordless = without_password(&cluster.url, &old_password);
    // Made into what earlier versions left behind: trust in pg_hba.conf, no password file.
    cluster.stop_server().await?;
    let hba = cluster.cluster.data_dir().join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba)?;
    assert!(text.contains("scram-sha-256"), "{text}");
    std::fs::write(&hba, text.replace("scram-sha-256", "trust"))?;
    std::fs::remove_file(cluster.cluster.password_file())?;
    {
        // Started as it was, by hand (not through ktrdr): anyone gets in.
        let data_dir = cluster.cluster.data_dir();
        let pg_ctl = db::embedded::server_program("pg_ctl")?;
        let mut start = if unsafe { libc::geteuid() } == 0 {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            command
        } else {
            Command::new(&pg_ctl)
        };
        let started = start
            .args(["start", "-w", "-D"])
            .arg(&data_dir)
            .arg("-l")
            .arg(cluster.cluster.log_file())
            .output()?;
        assert!(started.status.success(), "{}", stderr(&started));
        let pool = db::connect_with_size(&passwordless, 1).await?;
        pool.close().await;
    }

    let output = ktrdr_embedded(&cluster.home(), &["db", "up"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("from trust to password authentication"),
        "{}",
        stderr(&output)
    );
    let file = cluster.cluster.password_file();
    assert_eq!(mode_of(&file), 0o600);
    let password = read_password(&cluster);
    assert_ne!(password, old_password, "a new password was generated");
    assert_login_refused(&passwordless).await;
    let url = cluster.cluster.url()?;
    assert!(url.contains(&format!(":{password}@")), "{url}");
    let pool = db::connect_with_size(&url, 1).await?;
    let methods: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
            .fetch_all(&pool)
            .await?;
    assert_eq!(methods, ["scram-sha-256"]);
    pool.close().await;

    // The next start finds nothing to convert.
    let again = ktrdr_embedded(&cluster.home(), &["db", "up"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!stderr(&again).contains("converting"), "{}", stderr(&again));
    assert_eq!(read_password(&cluster), password);
    Ok(())
}
