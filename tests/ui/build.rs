//! The build ID the accepted forms read with `env!`, fixed when they compile like a user's would be.
fn main() {
    println!("cargo:rustc-env=TS_UI_BUILD_ID=2024.06.01");
}
