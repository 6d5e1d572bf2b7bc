//! The fixture function's build ID, fixed at compile time like a user's would be.
fn main() {
    println!("cargo:rerun-if-env-changed=FIXTURE_BUILD_ID");
    let build_id = std::env::var("FIXTURE_BUILD_ID").unwrap_or_else(|_| "fixture-1".to_owned());
    println!("cargo:rustc-env=FIXTURE_BUILD_ID={build_id}");
}
