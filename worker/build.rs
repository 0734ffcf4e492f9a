//! Gives the integration tests of this crate, which run trainings in-process through
//! `ktrdr-worker-torch`, an rpath to libtorch (`LIBTORCH`, set by .cargo/config.toml), so that
//! they run without LD_LIBRARY_PATH. The `ktrdr-worker` binary links no libtorch and gets none.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{libtorch}/lib");
    }
}
