//! The admin's templates and stylesheet, compiled into the binary
//! (`include_str!`) and rendered with minijinja, HTML autoescaped. Pure: a
//! page is a name and a context in, HTML out; nothing here reads a
//! request, a session or the database.

use std::sync::OnceLock;

use minijinja::Environment;

/// The admin's own stylesheet, served at /admin/static/admin.css.
pub const STYLESHEET: &str = include_str!("admin.css");

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("logged_out.html", include_str!("templates/logged_out.html")),
    ("error.html", include_str!("templates/error.html")),
    ("user_list.html", include_str!("templates/user_list.html")),
    ("user_add.html", include_str!("templates/user_add.html")),
    (
        "user_change.html",
        include_str!("templates/user_change.html"),
    ),
    (
        "user_delete.html",
        include_str!("templates/user_delete.html"),
    ),
    (
        "user_deleted.html",
        include_str!("templates/user_deleted.html"),
    ),
    (
        "user_history.html",
        include_str!("templates/user_history.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary: one that does not parse
            // is a bug caught by the first test that renders it.
            env.add_template(name, source)
                .unwrap_or_else(|error| panic!("template {name}: {error}"));
        }
        env
    })
}

/// `name` rendered with `context`.
pub fn render(name: &str, context: minijinja::Value) -> String {
    match environment()
        .get_template(name)
        .and_then(|template| template.render(context))
    {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(%error, template = name, "cannot render an admin page");
            "<!doctype html><title>Server error</title><p>The page could not be shown.</p>"
                .to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes_what_it_is_given() {
        for (name, _) in TEMPLATES {
            assert!(environment().get_template(name).is_ok(), "{name}");
        }
        let page = render(
            "error.html",
            minijinja::context! { title => "Not Found", status => 404, message => "<script>x</script>" },
        );
        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
    }
}
