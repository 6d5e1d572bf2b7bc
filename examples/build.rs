//! Gives each example a build ID at compile time. A deploy pipeline sets `<NAME>_BUILD_ID`
//! (e.g. to the commit); a local build falls back to the crate version so that `cargo build`
//! works out of the box. Either way the value is fixed in the binary, never read at run time.

fn main() {
    for variable in ["HELLO_BUILD_ID", "SHOP_BUILD_ID", "OBSERVED_BUILD_ID"] {
        println!("cargo:rerun-if-env-changed={variable}");
        let build_id = std::env::var(variable)
            .unwrap_or_else(|_| format!("{}-dev", env!("CARGO_PKG_VERSION")));
        println!("cargo:rustc-env={variable}={build_id}");
    }
}
