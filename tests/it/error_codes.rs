//! Every stable error code is the same everywhere: `Error::CODES`, the TypeScript
//! `ErrorCode` union of the npm package (its source header and the generated
//! `index.d.ts`), and the error-code page of the docs.

use std::path::Path;

use render_engine::Error;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The members of `export type ErrorCode = | 'E_...' | ...` in a `.d.ts` file, in order.
fn typescript_codes(dts: &str) -> Vec<String> {
    let start = dts
        .find("export type ErrorCode =")
        .expect("the ErrorCode union");
    dts[start..]
        .lines()
        .skip(1)
        .map(str::trim)
        .take_while(|l| l.starts_with("| '"))
        .map(|l| {
            l.trim_start_matches("| '")
                .trim_end_matches('\'')
                .to_string()
        })
        .collect()
}

#[test]
fn the_typescript_error_code_union_lists_exactly_the_crate_codes() {
    for file in ["bindings/node/header.d.ts", "index.d.ts"] {
        assert_eq!(
            typescript_codes(&repo_file(file)),
            Error::CODES,
            "{file}: the ErrorCode union must list Error::CODES, in order"
        );
    }
}

#[test]
fn the_docs_explain_every_code() {
    let page = repo_file("docs/errors.md");
    for code in Error::CODES {
        assert!(
            page.contains(&format!("| `{code}` |")),
            "docs/errors.md has no row for {code}"
        );
    }
}
