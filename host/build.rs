//! Stamps the binary with when it was built, so that two builds of the same
//! version tell each other apart on the engine socket (see
//! `remote::build_id`). Cargo runs this again whenever a file of the package
//! changes, which is exactly when the binary does.

fn main() {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    println!("cargo:rustc-env=RINGMASTER_BUILT_AT={secs}");
}
