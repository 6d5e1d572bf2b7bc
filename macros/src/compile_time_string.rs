//! Keys of `#[serverless_worker]` whose values must be fixed when the binary is compiled: a string
//! literal, `env!(..)`, or `concat!(..)` of those. A build ID that can change at run time is how
//! Temporal's invocation loop starts (new code keeps announcing an old build ID), so anything
//! else is rejected here, before it can reach a Lambda.

use syn::{Expr, Lit, Macro, punctuated::Punctuated, token::Comma};

/// A value accepted as a compile-time string.
pub struct CompileTimeString {
    /// The expression to embed, unchanged.
    pub expr: Expr,
    /// The value, when it is known at expansion (only literals, possibly through `concat!`);
    /// `None` when it comes from `env!`, in which case the generated code checks it in a `const`.
    pub known_value: Option<String>,
}

/// Checks that `expr`, given for `key`, is a compile-time string, and validates its value when it
/// is already known. Values from `env!` get the same rule (`temporal_serverless_names::problem`)
/// in the `const` the generated code evaluates.
pub fn parse(key: &str, expr: &Expr) -> syn::Result<CompileTimeString> {
    let known_value = known_value(key, expr)?;
    if let Some(value) = &known_value
        && let Some(problem) = temporal_serverless_names::problem(value)
    {
        return Err(syn::Error::new_spanned(
            expr,
            format!(
                "`{key}` {problem}; Temporal compares it byte for byte with the Worker Deployment Version"
            ),
        ));
    }
    Ok(CompileTimeString {
        expr: expr.clone(),
        known_value,
    })
}

/// The value of `expr` if it is built from literals only, `None` if it involves `env!`, or an
/// error if it is not a compile-time string at all.
fn known_value(key: &str, expr: &Expr) -> syn::Result<Option<String>> {
    match expr {
        Expr::Lit(lit) => literal_text(key, &lit.lit).map(Some),
        Expr::Group(group) => known_value(key, &group.expr),
        Expr::Paren(paren) => known_value(key, &paren.expr),
        Expr::Macro(mac) => macro_value(key, &mac.mac),
        other => Err(not_constant(key, other, describe(other))),
    }
}

fn macro_value(key: &str, mac: &Macro) -> syn::Result<Option<String>> {
    let name = mac
        .path
        .segments
        .last()
        .map(|segment| segment.ident.to_string())
        .unwrap_or_default();
    match name.as_str() {
        "env" => Ok(None),
        "concat" => {
            let parts = mac.parse_body_with(Punctuated::<Expr, Comma>::parse_terminated)?;
            let mut value = Some(String::new());
            for part in &parts {
                match (known_value(key, part)?, value.as_mut()) {
                    (Some(text), Some(accumulated)) => accumulated.push_str(&text),
                    _ => value = None,
                }
            }
            Ok(value)
        }
        "option_env" => Err(syn::Error::new_spanned(
            mac,
            format!(
                "`{key}` cannot use `option_env!`: an unset variable would ship a binary without \
                 its {what}; use `env!(\"NAME\")`, which fails the build when `NAME` is unset",
                what = human_name(key)
            ),
        )),
        _ => Err(not_constant(key, mac, format!("the macro `{name}!`"))),
    }
}

fn literal_text(key: &str, lit: &Lit) -> syn::Result<String> {
    match lit {
        Lit::Str(text) => Ok(text.value()),
        Lit::Int(int) => Ok(int.base10_digits().to_owned()),
        Lit::Char(ch) => Ok(ch.value().to_string()),
        other => Err(syn::Error::new_spanned(
            other,
            format!(
                "`{key}` must be a string, e.g. `{key} = \"{example}\"`",
                example = example(key)
            ),
        )),
    }
}

fn not_constant(
    key: &str,
    tokens: impl quote::ToTokens,
    what: impl std::fmt::Display,
) -> syn::Error {
    syn::Error::new_spanned(
        tokens,
        format!(
            "`{key}` must be fixed at compile time, but {what} is evaluated when the Lambda runs\n\
             = help: write a string literal (`{key} = \"{example}\"`), `env!(\"NAME\")`, or `concat!(..)` of those\n\
             = note: a {human} that can change at run time can differ from the Worker Deployment Version \
             the server invokes this function for; that mismatch is how invocation loops start",
            example = example(key),
            human = human_name(key),
        ),
    )
}

fn describe(expr: &Expr) -> String {
    match expr {
        Expr::Path(_) => "a variable or constant path".to_owned(),
        Expr::Call(_) | Expr::MethodCall(_) => "a function call".to_owned(),
        Expr::Block(_) => "a block".to_owned(),
        Expr::Reference(_) => "a reference".to_owned(),
        _ => "this expression".to_owned(),
    }
}

fn human_name(key: &str) -> &'static str {
    match key {
        "build_id" => "build ID",
        "deployment" => "deployment name",
        _ => "value",
    }
}

fn example(key: &str) -> &'static str {
    match key {
        "build_id" => "2024-06-01.1",
        "deployment" => "my-app",
        _ => "orders",
    }
}
