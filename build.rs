//! Embeds the schema migrations (through refinery's macro) and the sql/ bundle of functions and views.
//! Cargo must rebuild when either folder changes, which it cannot see by itself.

use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=sql");

    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let sql_dir = Path::new(&manifest_dir).join("sql");
    let mut files: Vec<_> = fs::read_dir(&sql_dir)
        .expect("sql/ exists")
        .map(|entry| entry.expect("readable sql/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        // cron.sql needs the pg_cron extension and is applied by hand, not by `ktrdr migrate`.
        .filter(|path| !path.ends_with("cron.sql"))
        .collect();
    files.sort();

    let entries: String = files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            format!(
                "    ({name:?}, include_str!({:?})),\n",
                path.display().to_string()
            )
        })
        .collect();
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("sql_bundle.rs");
    // Written to a new file and renamed over the old one, never rewritten in place: a target/
    // seeded with hard links (cp -al) shares the old file's inode with other checkouts, and
    // writing through it would hand them this checkout's paths.
    let staged = out.with_extension("rs.new");
    fs::write(&staged, format!("&[\n{entries}]\n")).expect("writable OUT_DIR");
    fs::rename(&staged, &out).expect("writable OUT_DIR");
}
