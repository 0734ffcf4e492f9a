//! Gives every binary of this crate (the benchmark and its tests) an rpath to libtorch, so they run
//! without LD_LIBRARY_PATH. torch-sys knows where libtorch is (`links = "tch"` exports it as
//! DEP_TCH_LIBTORCH_LIB) but sets no run path itself.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
