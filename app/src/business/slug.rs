//! URL slugs made from post titles.
//!
//! The title is folded to ASCII (NFKD decomposition, then everything that is
//! not ASCII dropped, so "Crème Brûlée" becomes "creme-brulee"), lower-cased,
//! and every run of other characters becomes one `-`. The result always
//! matches `^[a-z0-9]+(-[a-z0-9]+)*$`; uniqueness (`-2`, `-3`, ...) is added
//! by the repository.

use unicode_normalization::UnicodeNormalization;

/// Longest slug made here, leaving room for a uniqueness suffix.
pub const SLUG_MAX: usize = 80;
/// The slug of a title with no ASCII letters or digits at all.
pub const SLUG_FALLBACK: &str = "post";

/// The slug base for `title`.
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len().min(SLUG_MAX));
    let mut pending_dash = false;
    for c in title.nfkd().filter(char::is_ascii) {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
        if slug.len() >= SLUG_MAX {
            break;
        }
    }
    slug.truncate(SLUG_MAX);
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        SLUG_FALLBACK.to_owned()
    } else {
        slug.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_slug(slug: &str) -> bool {
        !slug.is_empty()
            && slug.len() <= SLUG_MAX
            && slug.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
    }

    #[test]
    fn examples() {
        assert_eq!(slugify("Hello, World!"), "hello-world");
        assert_eq!(
            slugify("  Crème Brûlée  à la carte "),
            "creme-brulee-a-la-carte"
        );
        assert_eq!(slugify("Ｆｕｌｌｗｉｄｔｈ ２０２４"), "fullwidth-2024");
        assert_eq!(slugify("--a--b--"), "a-b");
        assert_eq!(slugify("日本語"), SLUG_FALLBACK);
        assert_eq!(slugify(""), SLUG_FALLBACK);
        let long = "word ".repeat(40);
        let slug = slugify(&long);
        assert!(slug.len() <= SLUG_MAX && is_slug(&slug), "{slug}");
    }

    proptest! {
        #[test]
        fn always_a_valid_slug(title in any::<String>()) {
            let slug = slugify(&title);
            prop_assert!(is_slug(&slug), "{:?} -> {:?}", title, slug);
        }

        #[test]
        fn ascii_words_survive(words in proptest::collection::vec("[a-z0-9]{1,8}", 1..5)) {
            let title = words.join(" ! ");
            prop_assert_eq!(slugify(&title), words.join("-"));
        }

        #[test]
        fn idempotent(title in "\\PC{0,120}") {
            let once = slugify(&title);
            prop_assert_eq!(slugify(&once), once.clone());
        }
    }
}
