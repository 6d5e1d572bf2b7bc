//! Compile-time contract: every misuse of the attributes fails with an actionable message
//! (`ui/*.rs` + `ui/*.stderr`), and the accepted forms compile and configure a worker
//! (`ui/pass/*.rs`, run with `TEMPORAL_SERVERLESS_DRY_RUN=1`, which configures and exits).

#[test]
fn ui() {
    // Read by `env!` in the cases at compile time, and by the dry runs at run time. Set before
    // trybuild spawns cargo, which inherits them; no other test in this binary reads them.
    unsafe {
        std::env::set_var("TS_UI_BUILD_ID", "2024.06.01");
        std::env::set_var("TS_UI_BUILD_ID_WITH_SPACE", "build 7");
        std::env::set_var("TS_UI_EMPTY", "");
        std::env::set_var("TEMPORAL_SERVERLESS_DRY_RUN", "1");
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
    cases.pass("ui/pass/*.rs");
}
