// Included by the cases (`include!`), each a whole program of its own.

/// The `#[workflow_methods]` of `$workflow`: a run method that takes no input and returns at
/// once, with `#[run]` or, when arguments follow the name, `#[run(<arguments>)]`.
///
/// For cases whose subject is the attributes on the workflow's struct. Each case declares that
/// struct itself, so that what the compiler says about it points into the case.
macro_rules! run_returns_at_once {
    ($workflow:ident $(, $($run_argument:tt)+)?) => {
        #[workflow_methods]
        impl $workflow {
            #[run $(($($run_argument)+))?]
            async fn run(_ctx: &mut WorkflowContext<Self>) -> WorkflowResult<()> {
                Ok(())
            }
        }
    };
}
