//! Links the static PocketSphinx that `scripts/install-pocketsphinx.sh`
//! (run by `make deps` / `scripts/install-deps.sh`) builds into
//! `POCKETSPHINX_PREFIX` (default `<workspace>/target/pocketsphinx`).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=POCKETSPHINX_PREFIX");
    let prefix = match std::env::var_os("POCKETSPHINX_PREFIX") {
        Some(p) => PathBuf::from(p),
        None => {
            let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
            // media/pocketsphinx-sys -> workspace root
            manifest.join("../../target/pocketsphinx")
        }
    };
    let lib = prefix.join("lib");
    let archive = lib.join("libpocketsphinx.a");
    let model = prefix.join("model").join("en-us");
    println!("cargo:rerun-if-changed={}", archive.display());
    if !archive.is_file() || !model.join("en-us").join("mdef").is_file() {
        panic!(
            "\n\npocketsphinx-sys: PocketSphinx 5.1.1 not found in {} \
             (need lib/libpocketsphinx.a and model/en-us).\n\
             Run `make deps` or `scripts/install-pocketsphinx.sh` first \
             (or set POCKETSPHINX_PREFIX to an install made by that script).\n\n",
            prefix.display()
        );
    }
    let prefix = prefix.canonicalize().unwrap_or(prefix);
    println!("cargo:rustc-link-search=native={}", prefix.join("lib").display());
    println!("cargo:rustc-link-lib=static=pocketsphinx");
    println!("cargo:rustc-link-lib=m");
    // Default model directory baked in; overridable at run time (see lib.rs).
    println!("cargo:rustc-env=POCKETSPHINX_DEFAULT_MODEL={}", prefix.join("model").join("en-us").display());
    println!("cargo:root={}", prefix.display());
}
