//! Collects every error of one macro invocation so that a user sees all of them in one build,
//! each at its own span (the approach of `serde_derive`'s `Ctxt`).

use proc_macro2::TokenStream;
use std::fmt::Display;

/// The errors found so far while validating one attribute.
#[derive(Default)]
pub struct Diagnostics {
    errors: Vec<syn::Error>,
}

impl Diagnostics {
    /// Records an error spanning `tokens`.
    pub fn error_spanned_by(&mut self, tokens: impl quote::ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error already built by `syn`.
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Consumes the collection: `Ok` when nothing was recorded, otherwise the combined
    /// `compile_error!` invocations, one per error.
    pub fn finish(self) -> Result<(), TokenStream> {
        let mut errors = self.errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined.to_compile_error())
    }
}
