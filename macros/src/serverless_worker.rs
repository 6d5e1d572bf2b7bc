//! `#[serverless_worker(deployment = .., build_id = .., task_queue = ..)]` on
//! `fn main(worker: &mut LambdaWorker)`: generates the real `main`, which embeds the deployment
//! manifest and hands it with the configure body to `temporal_serverless::__private::run_function`.
//!
//! Flow: attribute tokens → [`WorkerArgs`], `fn` item → [`ConfigureFn`] (all errors collected) →
//! expansion. On error a `main` that only carries the errors is emitted, so nothing cascades.

use crate::{
    compile_time_string::{self, CompileTimeString},
    diagnostics::Diagnostics,
    suggest,
};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::{
    FnArg, ItemFn, Meta, ReturnType, Type, parse::Parser, punctuated::Punctuated, spanned::Spanned,
    token::Comma,
};

const KEYS: &[&str] = &["deployment", "build_id", "task_queue"];
const ACCEPTED_FORM: &str = "the accepted form is\n\
    \n    #[serverless_worker(deployment = \"my-app\", build_id = env!(\"MY_APP_BUILD_ID\"))]\
    \n    fn main(worker: &mut LambdaWorker) {\
    \n        worker.task_queue(\"my-queue\").register_workflow::<MyWorkflow>();\
    \n    }";

/// The validated attribute arguments.
struct WorkerArgs {
    deployment: Option<CompileTimeString>,
    build_id: Option<CompileTimeString>,
    task_queue: Option<CompileTimeString>,
}

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut diagnostics = Diagnostics::default();
    let args = parse_args(args, &mut diagnostics);
    let function = match syn::parse2::<ItemFn>(item) {
        Ok(function) => function,
        Err(error) => {
            diagnostics.push(syn::Error::new(
                error.span(),
                format!("`#[serverless_worker]` goes on the crate's `fn main`; {ACCEPTED_FORM}"),
            ));
            return fallback_main(diagnostics);
        }
    };
    validate_signature(&function, &mut diagnostics);
    if function.sig.ident != "main" {
        // Leave the function as written: the crate may have a `main` of its own.
        let errors = diagnostics.finish().err();
        return quote! { #errors #function };
    }
    let (Some(deployment), Some(build_id)) = (&args.deployment, &args.build_id) else {
        return fallback_main(diagnostics);
    };
    if let Err(errors) = diagnostics.finish() {
        return quote! { #errors fn main() {} };
    }
    generate(&function, deployment, build_id, args.task_queue.as_ref())
}

fn parse_args(args: TokenStream, diagnostics: &mut Diagnostics) -> WorkerArgs {
    let mut parsed = WorkerArgs {
        deployment: None,
        build_id: None,
        task_queue: None,
    };
    let metas = match Punctuated::<Meta, Comma>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            diagnostics.push(error);
            return parsed;
        }
    };
    // Missing keys are reported only when the key was not attempted at all (a misspelled
    // `buildid = ..` gets its "did you mean", not a second "missing" error).
    let mut attempted: Vec<&str> = Vec::new();
    for meta in &metas {
        let key = meta.path().to_token_stream().to_string();
        let Some(&known) = KEYS.iter().find(|known| **known == key) else {
            let hint = match suggest::closest(&key, KEYS) {
                Some(known) => {
                    attempted.push(known);
                    format!("did you mean `{known}`?")
                }
                None => {
                    "the keys are `deployment`, `build_id` and (optional) `task_queue`".to_owned()
                }
            };
            diagnostics.error_spanned_by(
                meta.path(),
                format!("unknown key `{key}` in `#[serverless_worker]`; {hint}"),
            );
            continue;
        };
        if attempted.contains(&known) {
            diagnostics.error_spanned_by(
                meta.path(),
                format!("duplicate key `{key}`: remove one of them"),
            );
            continue;
        }
        attempted.push(known);
        let Meta::NameValue(name_value) = meta else {
            diagnostics.error_spanned_by(
                meta,
                format!("`{key}` takes a value: `{key} = ..`; {ACCEPTED_FORM}"),
            );
            continue;
        };
        let value = match compile_time_string::parse(known, &name_value.value) {
            Ok(value) => value,
            Err(error) => {
                diagnostics.push(error);
                continue;
            }
        };
        match known {
            "deployment" => parsed.deployment = Some(value),
            "build_id" => parsed.build_id = Some(value),
            _ => parsed.task_queue = Some(value),
        }
    }
    for (key, example) in [
        ("deployment", "deployment = \"my-app\""),
        ("build_id", "build_id = env!(\"MY_APP_BUILD_ID\")"),
    ] {
        if !attempted.contains(&key) {
            diagnostics.push(syn::Error::new(
                Span::call_site(),
                format!(
                    "`#[serverless_worker]` is missing `{key}`: add `{example}`; the Worker Deployment \
                     Version this function serves is fixed when it is compiled"
                ),
            ));
        }
    }
    parsed
}

fn validate_signature(function: &ItemFn, diagnostics: &mut Diagnostics) {
    let signature = &function.sig;
    if signature.ident != "main" {
        diagnostics.error_spanned_by(
            &signature.ident,
            format!("`#[serverless_worker]` generates the program's entry point, so it goes on `fn main`, not `fn {}`", signature.ident),
        );
    }
    if let Some(asyncness) = &signature.asyncness {
        diagnostics.error_spanned_by(
            asyncness,
            format!(
                "remove `async`: the generated `main` starts the tokio runtime itself, and this body \
                 only registers workflows and activities, once per process; {ACCEPTED_FORM}"
            ),
        );
    }
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        diagnostics.error_spanned_by(
            &signature.generics,
            format!("`main` cannot be generic; {ACCEPTED_FORM}"),
        );
    }
    if let ReturnType::Type(arrow, ty) = &signature.output {
        diagnostics.error_spanned_by(
            quote!(#arrow #ty),
            format!(
                "remove the return type: configuration problems are reported by the LambdaWorker at \
                 cold start; {ACCEPTED_FORM}"
            ),
        );
    }
    let arguments: Vec<&FnArg> = signature.inputs.iter().collect();
    let is_worker_reference = |argument: &FnArg| match argument {
        FnArg::Typed(typed) => {
            matches!(&*typed.ty, Type::Reference(reference) if reference.mutability.is_some())
        }
        FnArg::Receiver(_) => false,
    };
    match arguments.as_slice() {
        [argument] if is_worker_reference(argument) => {}
        [] => diagnostics.error_spanned_by(
            &signature.ident,
            format!("`main` takes the worker to configure: `fn main(worker: &mut LambdaWorker)`; {ACCEPTED_FORM}"),
        ),
        [argument] => diagnostics.error_spanned_by(
            argument,
            format!("the argument must be `worker: &mut LambdaWorker`; {ACCEPTED_FORM}"),
        ),
        [_, extra @ ..] => diagnostics.error_spanned_by(
            quote!(#(#extra)*),
            format!(
                "`main` takes exactly one argument, `worker: &mut LambdaWorker`; per-process \
                 resources belong in the body, per-invocation ones in hooks; {ACCEPTED_FORM}"
            ),
        ),
    }
}

/// A `main` carrying only the errors, so rustc reports ours and nothing about a missing `main`.
fn fallback_main(diagnostics: Diagnostics) -> TokenStream {
    let errors = diagnostics.finish().err();
    quote! { #errors fn main() {} }
}

fn generate(
    function: &ItemFn,
    deployment: &CompileTimeString,
    build_id: &CompileTimeString,
    task_queue: Option<&CompileTimeString>,
) -> TokenStream {
    let private = quote!(::temporal_serverless::__private);
    let attributes = &function.attrs;
    let inputs = &function.sig.inputs;
    let body = &function.block;
    let deployment_expr = &deployment.expr;
    let build_id_expr = &build_id.expr;
    // `env!` values are only known to rustc: check them in a `const` spanned at the user's
    // expression, so a bad value fails the build there, never the Lambda.
    // Every token of the check carries that span, so rustc points at the expression.
    let check = |value: &CompileTimeString, constant: &str, key: &str| {
        if value.known_value.is_some() {
            return TokenStream::new();
        }
        let span = value.expr.span();
        let constant = Ident::new(constant, span);
        let key = Ident::new(key, span);
        quote_spanned! {span=>
            const _: () = ::temporal_serverless::__private::check_compile_time_value(
                #constant,
                ::temporal_serverless::__private::Key::#key,
            );
        }
    };
    let deployment_check = check(deployment, "DEPLOYMENT", "Deployment");
    let build_id_check = check(build_id, "BUILD_ID", "BuildId");
    let (task_queue_const, task_queue_check, task_queue_arg) = match task_queue {
        Some(queue) => {
            let expr = &queue.expr;
            (
                quote!(const TASK_QUEUE: &str = #expr;),
                check(queue, "TASK_QUEUE", "TaskQueue"),
                quote!(::core::option::Option::Some(TASK_QUEUE)),
            )
        }
        None => (
            TokenStream::new(),
            TokenStream::new(),
            quote!(::core::option::Option::None),
        ),
    };
    quote! {
        fn main() -> ::std::process::ExitCode {
            #(#attributes)*
            fn configure(#inputs) #body

            const DEPLOYMENT: &str = #deployment_expr;
            const BUILD_ID: &str = #build_id_expr;
            #task_queue_const
            #deployment_check
            #build_id_check
            #task_queue_check
            const MANIFEST_LEN: usize = #private::manifest_len(DEPLOYMENT, BUILD_ID);
            // Kept in the binary for `temporal-serverless inspect`, and read back at start-up.
            #[used]
            static MANIFEST: [u8; MANIFEST_LEN] = #private::encode_manifest(DEPLOYMENT, BUILD_ID);

            #private::run_function(#private::FunctionSpec {
                manifest: &MANIFEST,
                task_queue: #task_queue_arg,
                configure,
            })
        }
    }
}
