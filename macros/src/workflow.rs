//! `#[workflow(versioning = ..)]`: the SDK's workflow attribute plus the Worker Deployment
//! versioning behavior as a constant of `temporal_serverless::ServerlessWorkflow`.
//!
//! Flow: attribute tokens → [`WorkflowArgs`] (every error collected) → expansion. On error the
//! struct and a placeholder impl are still emitted, so the only errors a user sees are ours.

use crate::{diagnostics::Diagnostics, suggest};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Expr, Item, Meta, parse::Parser, punctuated::Punctuated, token::Comma};

const KEYS: &[&str] = &["versioning"];
const BEHAVIORS: &[&str] = &["pinned", "auto_upgrade"];
const ADD_VERSIONING: &str = "add `versioning = pinned` (each execution stays on the build that started it) or \
     `versioning = auto_upgrade` (executions move to the current build at their next task)";

/// The versioning behaviors a workflow can declare.
#[derive(Clone, Copy)]
enum Behavior {
    Pinned,
    AutoUpgrade,
}

/// The validated arguments of one `#[workflow(..)]`.
struct WorkflowArgs {
    behavior: Option<Behavior>,
    /// Whether an error about the versioning key was already reported (a misspelled
    /// `versoning = ..` gets its own "did you mean", not a second "missing" error).
    versioning_reported: bool,
}

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut diagnostics = Diagnostics::default();
    let parsed = parse_args(args, &mut diagnostics);
    let item = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(item)) => item,
        Ok(other) => {
            diagnostics.error_spanned_by(
                item_keyword(&other),
                "`#[workflow]` goes on the struct that holds a workflow's state, e.g. \
                 `#[workflow(versioning = pinned)] #[derive(Default)] pub struct Checkout;`; \
                 its methods go in an `impl` block marked `#[workflow_methods]`",
            );
            let errors = diagnostics.finish().err();
            return quote! { #errors #item };
        }
        Err(error) => return error.to_compile_error(),
    };
    if parsed.behavior.is_none() && !parsed.versioning_reported {
        diagnostics.push(syn::Error::new(
            Span::call_site(),
            format!(
                "`#[workflow]` needs a versioning behavior for `{}`: {ADD_VERSIONING}",
                item.ident
            ),
        ));
    }
    let errors = diagnostics.finish().err();
    // A placeholder behavior keeps the impl (and so `register_workflow`) compiling while the
    // error above is fixed; the build fails on the error either way.
    let behavior = match parsed.behavior.unwrap_or(Behavior::Pinned) {
        Behavior::Pinned => quote!(Pinned),
        Behavior::AutoUpgrade => quote!(AutoUpgrade),
    };
    let name = &item.ident;
    let (impl_generics, type_generics, where_clause) = item.generics.split_for_impl();
    quote! {
        #errors
        #[::temporal_serverless::__private::sdk_macros::workflow]
        #item
        impl #impl_generics ::temporal_serverless::ServerlessWorkflow for #name #type_generics #where_clause {
            const VERSIONING_BEHAVIOR: ::temporal_serverless::VersioningBehavior =
                ::temporal_serverless::VersioningBehavior::#behavior;
        }
    }
}

fn parse_args(args: TokenStream, diagnostics: &mut Diagnostics) -> WorkflowArgs {
    let mut parsed = WorkflowArgs {
        behavior: None,
        versioning_reported: false,
    };
    let metas = match Punctuated::<Meta, Comma>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            diagnostics.push(error);
            return parsed;
        }
    };
    let mut versioning_seen = false;
    for meta in metas {
        let key = meta.path().to_token_stream().to_string();
        match key.as_str() {
            "versioning" => {
                if versioning_seen {
                    diagnostics.error_spanned_by(
                        meta.path(),
                        "duplicate key `versioning`: a workflow has exactly one versioning behavior; remove one of them",
                    );
                    continue;
                }
                versioning_seen = true;
                parsed.behavior = parse_behavior(&meta, diagnostics);
                parsed.versioning_reported = parsed.behavior.is_none();
            }
            "name" => diagnostics.error_spanned_by(
                meta.path(),
                "the workflow type name is not set here: put `#[run(name = \"..\")]` on the run \
                 method inside `#[workflow_methods]`",
            ),
            _ => {
                let hint = match suggest::closest(&key, KEYS) {
                    Some(known) => {
                        parsed.versioning_reported = true;
                        format!("did you mean `{known} = ..`? {ADD_VERSIONING}")
                    }
                    None => format!("the only key is `versioning`: {ADD_VERSIONING}"),
                };
                diagnostics.error_spanned_by(
                    meta.path(),
                    format!("unknown key `{key}` in `#[workflow]`; {hint}"),
                );
            }
        }
    }
    parsed
}

fn parse_behavior(meta: &Meta, diagnostics: &mut Diagnostics) -> Option<Behavior> {
    let Meta::NameValue(name_value) = meta else {
        diagnostics.error_spanned_by(
            meta,
            format!("`versioning` takes a value: {ADD_VERSIONING}"),
        );
        return None;
    };
    let value = match &name_value.value {
        Expr::Path(path) if path.path.get_ident().is_some() => {
            path.path.segments[0].ident.to_string()
        }
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => {
            let value = text.value();
            let fix = suggest::closest(&value, BEHAVIORS).unwrap_or("pinned");
            diagnostics.error_spanned_by(
                text,
                format!("`versioning` takes a bare word, not a string: write `versioning = {fix}`"),
            );
            return None;
        }
        other => {
            diagnostics.error_spanned_by(
                other,
                format!("`versioning` takes `pinned` or `auto_upgrade`: {ADD_VERSIONING}"),
            );
            return None;
        }
    };
    match value.as_str() {
        "pinned" => Some(Behavior::Pinned),
        "auto_upgrade" => Some(Behavior::AutoUpgrade),
        _ => {
            let hint = match suggest::closest(&value, BEHAVIORS) {
                Some(known) => format!("did you mean `{known}`?"),
                None => "the behaviors are `pinned` and `auto_upgrade`".to_owned(),
            };
            diagnostics.error_spanned_by(
                &name_value.value,
                format!("unknown versioning behavior `{value}`; {hint}"),
            );
            None
        }
    }
}

/// The keyword of a non-struct item (`enum`, `fn`, `impl`, ..), so the error points at it rather
/// than at the whole item.
fn item_keyword(item: &Item) -> TokenStream {
    match item {
        Item::Enum(item) => item.enum_token.to_token_stream(),
        Item::Fn(item) => item.sig.fn_token.to_token_stream(),
        Item::Impl(item) => item.impl_token.to_token_stream(),
        Item::Trait(item) => item.trait_token.to_token_stream(),
        Item::Union(item) => item.union_token.to_token_stream(),
        Item::Mod(item) => item.mod_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}
