//! The artifact stores' writability check, which a worker runs on each of its stores before it
//! claims anything: a directory gets a probe file written and removed, the database table needs
//! INSERT and DELETE for the connected role.

use ktrdr::{artifacts::ArtifactStore, db};
use ktrdr_testkit::TestDatabase;

#[tokio::test]
async fn a_directory_store_is_writable_only_where_files_can_be_created() -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("ktrdr-probe-{}", std::process::id()));
    ArtifactStore::Directory(root.join("created/on/demand"))
        .check_writable()
        .await?;
    assert_eq!(
        std::fs::read_dir(root.join("created/on/demand"))?.count(),
        0,
        "the probe was left behind"
    );
    std::fs::remove_dir_all(&root)?;

    // sysfs refuses new files to everyone, root included.
    let refused = ArtifactStore::Directory("/sys".into())
        .check_writable()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.starts_with("directory /sys is not writable: "),
        "{refused}"
    );
    Ok(())
}

#[tokio::test]
async fn the_database_store_needs_insert_and_delete_on_the_artifacts_table() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    ArtifactStore::Database(test_db.pool.clone())
        .check_writable()
        .await?;

    // A role that may read artifacts only, on a connection of its own (SET ROLE is per session).
    let role: String = sqlx::query_scalar("SELECT current_database() || '_reader'")
        .fetch_one(&test_db.pool)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} NOLOGIN; GRANT {role} TO current_user;
         GRANT USAGE ON SCHEMA ktrdr TO {role}; GRANT SELECT ON ktrdr.artifacts TO {role};"
    )))
    .execute(&test_db.pool)
    .await?;
    let reader = db::connect_with_size(test_db.url(), 1).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET ROLE {role}")))
        .execute(&reader)
        .await?;
    let refused = ArtifactStore::Database(reader.clone())
        .check_writable()
        .await
        .map_err(|err| err.to_string());
    reader.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "REVOKE ALL ON ktrdr.artifacts FROM {role}; REVOKE ALL ON SCHEMA ktrdr FROM {role};
         DROP ROLE {role};"
    )))
    .execute(&test_db.pool)
    .await?;
    assert_eq!(
        refused.unwrap_err(),
        "database table ktrdr.artifacts is not writable: this role lacks INSERT or DELETE on it"
    );
    Ok(())
}
