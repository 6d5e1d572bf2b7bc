//! How a value from an artifact or from the command line is written into text another program
//! parses: a word of a POSIX shell command ([`shell_word`], [`shell_command`],
//! [`shell_assignment`]) and a YAML scalar ([`yaml_scalar`]). One home for each rule, so that
//! `inspect --format env`, `deploy --print` and `role` cannot disagree on it.
//!
//! Why it matters: a build ID may hold anything but whitespace and control characters
//! (`temporal_serverless_names::problem`), and one set from a branch name through `env!` can
//! hold `;`, `$(…)`, quotes or backticks. Written as it is into a line a script `eval`s or runs,
//! such a value runs; written quoted, it is one word again, exactly as it was.

use std::{borrow::Cow, fmt::Write};

/// Characters a POSIX shell gives no meaning to anywhere in a word (the set Python's
/// `shlex.quote` leaves unquoted): a word of only these is read back as it is written.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '@' | '%' | '+' | '=' | ':' | ',' | '.' | '/' | '-')
}

/// Words a shell reads as reserved words when they come first (POSIX's, and bash's `function`,
/// `select` and `time`); the ones of plain characters only, the others are quoted anyway.
const RESERVED_WORDS: [&str; 16] = [
    "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if", "in", "select",
    "then", "time", "until", "while",
];

/// `value` single-quoted for a POSIX shell: `'…'`, each `'` inside written `'\''` (close the
/// quotes, an escaped quote, open them again). Inside single quotes nothing is special — not
/// `$`, `` ` ``, `\`, `;`, `#` nor a newline — so the shell reads back exactly `value`.
pub fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `value` as one word of a POSIX shell command: as it is when it is non-empty and all of its
/// characters are plain (`shop`, `arn:aws:lambda:eu-west-1:1:function:shop:3`), so that printed
/// commands stay readable; [`single_quoted`] otherwise.
pub fn shell_word(value: &str) -> Cow<'_, str> {
    if !value.is_empty() && value.chars().all(is_plain) {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(single_quoted(value))
    }
}

/// `words` as one command line, each a [`shell_word`], separated by one space. The first word
/// is also quoted when the shell would not run it as the program: when it holds a `=` (read as
/// an assignment, `A=b cmd`) or is a reserved word (`if`).
pub fn shell_command(words: &[impl AsRef<str>]) -> String {
    words
        .iter()
        .map(AsRef::as_ref)
        .enumerate()
        .map(|(at, word)| {
            if at == 0 && (word.contains('=') || RESERVED_WORDS.contains(&word)) {
                Cow::Owned(single_quoted(word))
            } else {
                shell_word(word)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `name='value'`: a shell assignment for `eval`, the value always [`single_quoted`] (a script
/// reading these lines knows their shape without knowing the values). `name` is one of ours, a
/// valid shell variable name.
pub fn shell_assignment(name: &str, value: &str) -> String {
    debug_assert!(
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{name:?} is not a shell variable name"
    );
    format!("{name}={}", single_quoted(value))
}

/// `value` as a YAML double-quoted scalar. Always quoted, so that YAML reads the string whatever
/// it holds — not `null`, `yes`, `007`, `1.5`, an anchor or alias (`&`, `*`), a reserved
/// indicator (`@`), a comment (`#`), a mapping (`: `) or the end of a flow (`]`). `"` and `\` are escaped, and so is every character
/// YAML would not keep as it is: control characters (among them NEL, which YAML 1.1 reads as a
/// line break and folds), the line and paragraph separators (the same), the byte-order mark and
/// the non-characters U+FFFE and U+FFFF (refused by YAML parsers).
pub fn yaml_scalar(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                write!(quoted, "\\u{:04X}", u32::from(c)).expect("writing to a String cannot fail");
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The words a POSIX shell (`sh`) reads `command_line` as, without running it as a command:
/// `set --` makes them the positional parameters, each then printed ended by a NUL. Anything the
/// line ran or expanded instead shows in what comes back.
#[cfg(test)]
pub(crate) fn words_read_by_sh(command_line: &str) -> Vec<String> {
    let script = format!("set -- {command_line}\nprintf '%s\\0' \"$@\"");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh runs");
    assert!(
        output.status.success(),
        "sh refused {command_line}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8(output.stdout).expect("the words are UTF-8");
    let mut words: Vec<String> = printed.split('\0').map(str::to_owned).collect();
    // What follows the last NUL.
    words.pop();
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values chosen to break out of an unquoted or badly quoted word: each would run `echo RAN`,
    /// expand, end the command, start a comment or split into several words.
    const HOSTILE: [&str; 14] = [
        "1;echo RAN",
        "$(echo RAN)",
        "`echo RAN`",
        "it's",
        "'",
        "a\"b",
        "#comment",
        "a: b",
        "two\nlines",
        "~",
        "*",
        "back\\slash",
        "ü",
        "",
    ];

    #[test]
    fn plain_words_stay_as_they_are() {
        for plain in [
            "shop",
            "arn:aws:lambda:eu-west-1:123456789012:function:shop:3",
            "--build-id",
            "0.1.0-dev+ab,c@d%e=f",
        ] {
            assert!(matches!(shell_word(plain), Cow::Borrowed(_)), "{plain}");
        }
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn sh_reads_every_word_back_as_it_was_and_runs_nothing() {
        let mut words = vec!["temporal"];
        words.extend(HOSTILE);
        let line = shell_command(&words);
        assert_eq!(words_read_by_sh(&line), words, "{line}");
    }

    #[test]
    fn a_first_word_the_shell_would_not_run_as_the_program_is_quoted() {
        assert_eq!(shell_command(&["A=b", "x=y"]), "'A=b' x=y");
        assert_eq!(shell_command(&["if", "then"]), "'if' then");
        assert_eq!(shell_command(&["/opt/temporal", "if"]), "/opt/temporal if");
        let nothing: [&str; 0] = [];
        assert_eq!(shell_command(&nothing), "");
    }

    #[test]
    fn an_assignment_is_always_single_quoted_and_eval_sets_exactly_the_value() {
        assert_eq!(shell_assignment("build_id", "b7"), "build_id='b7'");
        assert_eq!(
            shell_assignment("build_id", "1';echo RAN;'"),
            r"build_id='1'\'';echo RAN;'\'''"
        );
        for value in HOSTILE {
            let assignment = shell_assignment("value", value);
            let output = std::process::Command::new("sh")
                .args(["-c", "eval \"$1\" && printf '%s' \"$value\"", "sh"])
                .arg(&assignment)
                .output()
                .expect("sh runs");
            assert!(output.status.success(), "{assignment}");
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                value,
                "{assignment}"
            );
        }
    }

    #[test]
    fn yaml_scalars_are_double_quoted_with_what_yaml_would_not_keep_escaped() {
        assert_eq!(
            yaml_scalar("temporal-invoke-shop"),
            "\"temporal-invoke-shop\""
        );
        assert_eq!(yaml_scalar("null"), "\"null\"");
        assert_eq!(yaml_scalar("a: b # c ]"), "\"a: b # c ]\"");
        assert_eq!(yaml_scalar(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
        assert_eq!(
            yaml_scalar("two\nlines\tand\u{0}\u{7f}\u{85}\u{2028}\u{feff}ü"),
            r#""two\nlines\tand\u0000\u007F\u0085\u2028\uFEFFü""#
        );
    }
}
