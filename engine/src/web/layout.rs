//! The frame every console page shares: the document head (the embedded stylesheet and
//! script), a "skip to content" link, the navigation (with the current page marked for
//! screen readers), who is signed in with which role, the sign-out form, and the notice
//! banner a form's result shows after its redirect.

use maud::{DOCTYPE, Markup, html};

use super::auth::Session;

/// The navigation: path, label.
pub const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/subscriptions", "Subscriptions"),
    ("/candidates", "Removal candidates"),
    ("/profiles", "Profiles"),
    ("/catalog", "Entitlements & exclusions"),
    ("/audit", "Audit log"),
];

/// The hidden CSRF field of a session's forms.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A whole page.
pub fn page(title: &str, session: Option<&Session>, active: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · sam" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "sam" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            ul {
                                @for (path, label) in NAV {
                                    li {
                                        @if active == Some(path) {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        form.signout method="post" action="/signout" {
                            (csrf(s))
                            span.who { (s.actor.name) " · " (s.actor.role) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// The banner of a form's outcome (`?notice=` after a redirect).
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(t) = text {
            p.notice role="status" { (t) }
        }
    }
}
