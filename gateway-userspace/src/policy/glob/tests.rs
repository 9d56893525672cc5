use super::{super::path::normalize, PathGlob, ValueGlob};

fn path_matches(glob: &str, path: &str) -> bool {
    PathGlob::new(glob).unwrap().matches(&normalize(path))
}

#[test]
fn star_is_exactly_one_segment() {
    assert!(path_matches("/repos/*/*/issues", "/repos/o/r/issues"));
    assert!(!path_matches("/repos/*/*/issues", "/repos/o/issues"));
    assert!(!path_matches("/repos/*/*/issues", "/repos/o/r/x/issues"));
    assert!(!path_matches("/repos/*", "/repos"));
}

#[test]
fn star_inside_a_segment_stays_in_it() {
    assert!(path_matches("/files/*.json", "/files/a.json"));
    assert!(!path_matches("/files/*.json", "/files/a/b.json"));
    assert!(path_matches("/v1*/x", "/v1beta/x"));
}

#[test]
fn double_star_is_any_number_of_segments() {
    let glob = "/repos/**";
    assert!(path_matches(glob, "/repos"));
    assert!(path_matches(glob, "/repos/o"));
    assert!(path_matches(glob, "/repos/o/r/issues/1/comments"));
    assert!(!path_matches(glob, "/reposx"));
    assert!(path_matches("/a/**/z", "/a/z"));
    assert!(path_matches("/a/**/z", "/a/b/c/z"));
    assert!(!path_matches("/a/**/z", "/a/b/c/y"));
    assert!(path_matches("/**/x/**/y", "/p/x/q/x/r/y"));
    assert!(path_matches("/**", "/"));
}

#[test]
fn a_trailing_slash_does_not_count() {
    assert!(path_matches("/repos/*/*/issues", "/repos/o/r/issues/"));
    assert!(path_matches("/repos/*/*/issues/", "/repos/o/r/issues"));
    assert!(path_matches("/", "/"));
    assert!(!path_matches("/", "/a"));
}

#[test]
fn paths_are_normalised_before_matching() {
    // Each of these reaches /admin on a typical server.
    for path in [
        "/%61dmin",
        "//admin",
        "/x/../admin",
        "/./admin/",
        "/admin/.",
    ] {
        assert!(path_matches("/admin", path), "{path}");
    }
    // An encoded slash is data, not a separator.
    assert!(!path_matches("/a/b", "/a%2Fb"));
    assert!(path_matches("/a%2fb", "/a%2Fb"));
    assert!(path_matches("/*", "/a%2Fb"));
    // Dot segments cannot climb above the root.
    assert!(path_matches("/etc", "/../../etc"));
}

#[test]
fn literal_segments_are_case_sensitive() {
    assert!(!path_matches("/Admin", "/admin"));
}

#[test]
fn invalid_globs_are_refused() {
    for glob in ["repos/*", "/a/**b", "/a/***", "/a?x=1", "/a/../../b", ""] {
        assert!(PathGlob::new(glob).is_err(), "{glob}");
    }
}

#[test]
fn value_globs() {
    let g = |glob: &str, value: &str| ValueGlob::new(glob).matches(value);
    assert!(g("*", ""));
    assert!(g("*", "anything/at all"));
    assert!(g("open", "open"));
    assert!(!g("open", "opened"));
    assert!(g("2022-*", "2022-11-28"));
    assert!(!g("2022-*", "2023-01-01"));
    assert!(g("*@example.com", "bob@example.com"));
    assert!(!g("*@example.com", "bob@example.com.evil"));
    assert!(g("a*b*c", "abc"));
    assert!(g("a*b*c", "a-b-b-c"));
    assert!(!g("a*a", "a"));
    assert!(!g("ab*b", "ab"));
    assert!(!g("Open", "open"));
}
