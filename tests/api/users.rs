//! Users: registration, reading, listing and searching, changing and
//! deleting, and who may see and do what.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_problem, spawn_app, spawn_app_with_settings, PASSWORD};

#[tokio::test]
async fn registration_answers_201_with_location_and_the_users_own_view() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/users",
            &json!({"username": "alice", "email": "Alice@Example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_i64().unwrap();
    assert!(id > 0);
    assert_eq!(location, format!("/users/{id}"));
    assert_eq!(body["username"], "alice");
    assert_eq!(body["email"], "Alice@example.com");
    assert_eq!(body["is_staff"], false);
    assert_eq!(body["last_login"], Value::Null);
    assert!(body["date_joined"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
    let profile = &body["profile"];
    assert_eq!(profile["user_id"], id);
    assert_eq!(profile["username"], "alice");
    assert_eq!(profile["bio"], "");
    assert_eq!(profile["image"]["url"], "/media/default.jpg");
    assert_eq!(profile["image"]["is_default"], true);
    assert_eq!(profile["image"]["width"], 300);
    assert!(!body.to_string().contains("argon2"));
}

#[tokio::test]
async fn every_registered_user_has_exactly_one_profile_row() {
    let app = spawn_app().await;
    for name in ["u1", "u2", "u3"] {
        app.register(name).await;
    }
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 3);
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM profiles"), 3);
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM users u WHERE (SELECT COUNT(*) FROM profiles p WHERE p.user_id = u.id) <> 1"),
        0
    );
    let hashes =
        app.count_rows("SELECT COUNT(*) AS n FROM users WHERE password_hash LIKE '$argon2id$%'");
    assert_eq!(hashes, 3);
}

#[tokio::test]
async fn invalid_registrations_get_422_with_field_errors_and_change_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "bad name", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "x".repeat(151), "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "", "email": "a@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "bob", "email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"username": "bob", "email": format!("{}@example.com", "a".repeat(250)), "password": PASSWORD}),
            "email",
        ),
        (
            json!({"username": "bob", "email": "b@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "bob", "email": "b@example.com", "password": "12345678901"}),
            "password",
        ),
        (
            json!({"username": "bobbybobby", "email": "b@example.com", "password": "BobbyBobby"}),
            "password",
        ),
        (
            json!({"email": "b@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": 12, "email": "b@example.com", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "bob", "email": null, "password": PASSWORD}),
            "email",
        ),
    ];
    for (body, field) in cases {
        let problem = assert_problem(app.post_json("/users", &body, None).await, 422).await;
        assert!(problem["errors"][field].is_array(), "{body} -> {problem}");
    }
    let problem = assert_problem(app.post_json("/users", &json!({}), None).await, 422).await;
    for field in ["username", "email", "password"] {
        assert_eq!(problem["errors"][field][0], "This field is required.");
    }
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 0);
}

#[tokio::test]
async fn taken_usernames_and_emails_conflict_regardless_of_case() {
    let app = spawn_app().await;
    app.register("alice").await;
    let same_name = app
        .post_json(
            "/users",
            &json!({"username": "ALICE", "email": "other@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    let problem = assert_problem(same_name, 409).await;
    assert!(problem["errors"]["username"].is_array());
    let same_email = app
        .post_json(
            "/users",
            &json!({"username": "alice2", "email": "ALICE@example.COM", "password": PASSWORD}),
            None,
        )
        .await;
    let problem = assert_problem(same_email, 409).await;
    assert!(problem["errors"]["email"].is_array());
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 1);
}

#[tokio::test]
async fn a_user_is_public_but_private_fields_show_only_to_self_and_staff() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let staff = app.signed_in_staff("root", false).await;
    let path = format!("/users/{}", alice.id);

    let anonymous: Value = app.get_json(&path, None).await;
    assert_eq!(anonymous["username"], "alice");
    for hidden in ["email", "is_staff", "last_login"] {
        assert!(
            anonymous.get(hidden).is_none(),
            "{hidden} shown to anonymous"
        );
    }
    let as_bob: Value = app.get_json(&path, Some(&bob.token)).await;
    assert!(as_bob.get("email").is_none());
    let as_self: Value = app.get_json(&path, Some(&alice.token)).await;
    assert_eq!(as_self["email"], "alice@example.com");
    assert!(as_self["last_login"].as_str().unwrap().ends_with('Z'));
    let as_staff: Value = app.get_json(&path, Some(&staff.token)).await;
    assert_eq!(as_staff["email"], "alice@example.com");
    assert_eq!(as_staff["is_staff"], false);
}

#[tokio::test]
async fn ids_that_are_not_positive_integers_are_404() {
    let app = spawn_app().await;
    app.register("alice").await;
    for id in ["0", "-1", "abc", "1.5", "99999999999999999999999", "424242"] {
        assert_problem(app.get(&format!("/users/{id}"), None).await, 404).await;
        assert_problem(app.get(&format!("/users/{id}/profile"), None).await, 404).await;
    }
}

#[tokio::test]
async fn listing_needs_a_token_and_pages_like_drf() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    for i in 0..4 {
        app.register(&format!("user{i}")).await;
    }
    let response = app.get("/users", None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401).await;

    let page: Value = app.get_json("/users?limit=2", Some(&alice.token)).await;
    assert_eq!(page["count"], 5);
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
    assert_eq!(page["results"][0]["username"], "alice");
    assert_eq!(page["previous"], Value::Null);
    let next = page["next"].as_str().unwrap();
    assert!(
        next.starts_with("http://127.0.0.1:") && next.ends_with("/users?limit=2&offset=2"),
        "{next}"
    );

    let last: Value = app
        .get_json("/users?limit=2&offset=4", Some(&alice.token))
        .await;
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    assert_eq!(last["next"], Value::Null);
    assert!(last["previous"]
        .as_str()
        .unwrap()
        .ends_with("/users?limit=2&offset=2"));
    let second: Value = app
        .get_json("/users?limit=2&offset=2", Some(&alice.token))
        .await;
    assert!(second["previous"]
        .as_str()
        .unwrap()
        .ends_with("/users?limit=2"));

    let ids: Vec<i64> = app.get_json("/users", Some(&alice.token)).await["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");

    // A limit over the maximum is capped, as DRF's max_limit does.
    let capped: Value = app.get_json("/users?limit=1000", Some(&alice.token)).await;
    assert_eq!(capped["results"].as_array().unwrap().len(), 5);
    assert!(capped["next"].is_null());
    // Values that are not whole numbers in range are refused.
    for query in [
        "limit=abc",
        "limit=0",
        "limit=-1",
        "offset=-3",
        "offset=1.5",
        "offset=9223372036854775808",
    ] {
        assert_problem(
            app.get(&format!("/users?{query}"), Some(&alice.token))
                .await,
            400,
        )
        .await;
    }
    // An offset near the largest integer is an empty page, not an overflow.
    let far: Value = app
        .get_json("/users?offset=9223372036854775807", Some(&alice.token))
        .await;
    assert_eq!(far["results"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn search_matches_a_case_insensitive_substring_of_the_username() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    for name in ["Alice", "malice", "bob", "al_ice"] {
        app.register(name).await;
    }
    let names = |page: Value| -> Vec<String> {
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let page: Value = app
        .get_json("/users?search=ALIC", Some(&viewer.token))
        .await;
    assert_eq!(page["count"], 2);
    assert_eq!(names(page), vec!["Alice", "malice"]);
    // LIKE wildcards are literal.
    let page: Value = app.get_json("/users?search=l_i", Some(&viewer.token)).await;
    assert_eq!(names(page), vec!["al_ice"]);
    let page: Value = app.get_json("/users?search=%25", Some(&viewer.token)).await;
    assert_eq!(page["count"], 0);
    let page: Value = app
        .get_json("/users?search=ice&limit=1", Some(&viewer.token))
        .await;
    assert!(page["next"].as_str().unwrap().contains("search=ice"));
}

#[tokio::test]
async fn a_user_may_change_themself_but_not_others() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let response = app
        .patch_json(
            &format!("/users/{}", alice.id),
            &json!({"username": "alicia", "email": "new@example.com"}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["username"], "alicia");
    assert_eq!(body["email"], "new@example.com");
    assert_eq!(body["profile"]["username"], "alicia");

    let response = app
        .patch_json(
            &format!("/users/{}", bob.id),
            &json!({"username": "hacked"}),
            Some(&alice.token),
        )
        .await;
    assert_problem(response, 403).await;
    let response = app
        .patch_json(
            &format!("/users/{}", bob.id),
            &json!({"username": "x"}),
            None,
        )
        .await;
    assert_problem(response, 401).await;
    let response = app
        .patch_json(
            "/users/999999",
            &json!({"username": "x"}),
            Some(&alice.token),
        )
        .await;
    assert_problem(response, 404).await;

    let response = app
        .patch_json(
            &format!("/users/{}", alice.id),
            &json!({"username": "BOB"}),
            Some(&alice.token),
        )
        .await;
    assert!(assert_problem(response, 409).await["errors"]["username"].is_array());
    let response = app
        .patch_json(
            &format!("/users/{}", alice.id),
            &json!({"email": "nope"}),
            Some(&alice.token),
        )
        .await;
    assert!(assert_problem(response, 422).await["errors"]["email"].is_array());
}

#[tokio::test]
async fn staff_change_ordinary_users_but_only_superusers_change_is_staff() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let staff = app.signed_in_staff("staff", false).await;
    let boss = app.signed_in_staff("boss", true).await;
    let path = format!("/users/{}", alice.id);

    let response = app
        .patch_json(
            &path,
            &json!({"email": "staff-set@example.com"}),
            Some(&staff.token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_problem(
        app.patch_json(&path, &json!({"is_staff": true}), Some(&staff.token))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.patch_json(&path, &json!({"is_staff": true}), Some(&alice.token))
            .await,
        403,
    )
    .await;
    let own = format!("/users/{}", alice.id);
    assert_problem(
        app.patch_json(&own, &json!({"is_staff": false}), Some(&alice.token))
            .await,
        403,
    )
    .await;

    let response = app
        .patch_json(&path, &json!({"is_staff": true}), Some(&boss.token))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["is_staff"], true);
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = {} AND is_staff",
            alice.id
        )),
        1
    );
}

#[tokio::test]
async fn changing_your_own_password_needs_the_current_one_and_kills_old_tokens() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let path = format!("/users/{}", alice.id);
    let new_password = "a brand new passphrase";

    let missing = app
        .patch_json(
            &path,
            &json!({"password": new_password}),
            Some(&alice.token),
        )
        .await;
    assert!(assert_problem(missing, 422).await["errors"]["current_password"].is_array());
    let wrong = app
        .patch_json(
            &path,
            &json!({"password": new_password, "current_password": "not it at all"}),
            Some(&alice.token),
        )
        .await;
    assert!(assert_problem(wrong, 422).await["errors"]["current_password"].is_array());
    let weak = app
        .patch_json(
            &path,
            &json!({"password": "123456789", "current_password": PASSWORD}),
            Some(&alice.token),
        )
        .await;
    assert!(assert_problem(weak, 422).await["errors"]["password"].is_array());

    let ok = app
        .patch_json(
            &path,
            &json!({"password": new_password, "current_password": PASSWORD}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_problem(app.get("/profile", Some(&alice.token)).await, 401).await;
    let refresh = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": alice.refresh}),
            None,
        )
        .await;
    assert_problem(refresh, 401).await;
    assert_problem(app.login("alice", PASSWORD).await, 401).await;
    assert_eq!(
        app.login("alice", new_password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn staff_may_reset_another_users_password_without_the_current_one() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let staff = app.signed_in_staff("staff", false).await;
    let response = app
        .patch_json(
            &format!("/users/{}", alice.id),
            &json!({"password": "reset by staff 1"}),
            Some(&staff.token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("alice", "reset by staff 1").await.status(),
        StatusCode::OK
    );
    assert_problem(app.get("/profile", Some(&alice.token)).await, 401).await;
}

#[tokio::test]
async fn deleting_a_user_cascades_to_its_profile_in_the_database() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let staff = app.signed_in_staff("staff", false).await;

    assert_problem(
        app.delete(&format!("/users/{}", bob.id), Some(&alice.token))
            .await,
        403,
    )
    .await;
    assert_problem(app.delete(&format!("/users/{}", bob.id), None).await, 401).await;
    let response = app
        .delete(&format!("/users/{}", alice.id), Some(&alice.token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&format!("/users/{}", alice.id), None).await, 404).await;
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM profiles WHERE user_id = {}",
            alice.id
        )),
        0
    );
    // The deleted user's token dies with it.
    assert_problem(app.get("/profile", Some(&alice.token)).await, 401).await;

    let response = app
        .delete(&format!("/users/{}", bob.id), Some(&staff.token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.delete(&format!("/users/{}", bob.id), Some(&staff.token))
            .await,
        404,
    )
    .await;
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM profiles"), 1);
}

#[tokio::test]
async fn the_database_itself_cascades_a_users_deletion() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let id = alice["id"].as_i64().unwrap();
    use diesel::RunQueryDsl;
    diesel::sql_query(format!("DELETE FROM users WHERE id = {id}"))
        .execute(&mut *app.db())
        .unwrap();
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM profiles"), 0);
    let bob = app.register("bob").await["id"].as_i64().unwrap();
    let second_profile = diesel::sql_query(format!(
        "INSERT INTO profiles (user_id, image, image_width, image_height, bio, updated_at) VALUES ({bob}, 'default.jpg', 300, 300, '', CURRENT_TIMESTAMP)"
    ))
    .execute(&mut *app.db());
    assert!(
        second_profile.is_err(),
        "one profile per user is the database's rule"
    );
}

/// Staff manage ordinary users only: changing or deleting another staff
/// user or a superuser (their profile included) needs a superuser.
#[tokio::test]
async fn staff_cannot_take_over_staff_or_superusers() {
    let app = spawn_app().await;
    let staff = app.signed_in_staff("staff", false).await;
    let other_staff = app.signed_in_staff("colleague", false).await;
    let boss = app.signed_in_staff("boss", true).await;
    for target in [&other_staff, &boss] {
        let path = format!("/users/{}", target.id);
        assert_problem(
            app.patch_json(
                &path,
                &json!({"password": "taken over 123"}),
                Some(&staff.token),
            )
            .await,
            403,
        )
        .await;
        assert_problem(
            app.patch_json(
                &format!("{path}/profile"),
                &json!({"bio": "mine"}),
                Some(&staff.token),
            )
            .await,
            403,
        )
        .await;
        assert_problem(app.delete(&path, Some(&staff.token)).await, 403).await;
    }
    // Nothing changed: the superuser still signs in with their password.
    assert_eq!(app.login("boss", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM profiles WHERE bio = 'mine'"),
        0
    );
    // Staff may still change themselves, and a superuser anyone.
    let own = format!("/users/{}", staff.id);
    let response = app
        .patch_json(
            &own,
            &json!({"email": "me@example.org"}),
            Some(&staff.token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let colleague = format!("/users/{}", other_staff.id);
    assert_eq!(
        app.delete(&colleague, Some(&boss.token)).await.status(),
        StatusCode::NO_CONTENT
    );
}

/// Usernames are NFKC-normalised before they are checked, stored and
/// compared: look-alikes of a taken name are the same name.
#[tokio::test]
async fn lookalike_usernames_are_the_same_username() {
    let app = spawn_app().await;
    app.register("uniadmin").await;
    for lookalike in ["ｕｎｉａｄｍｉｎ", "𝐮niadmin", "UNIADMIN"] {
        let response = app
            .post_json(
                "/users",
                &json!({"username": lookalike, "email": "other@example.com", "password": PASSWORD}),
                None,
            )
            .await;
        let body = assert_problem(response, 409).await;
        assert!(body["errors"]["username"].is_array(), "{lookalike}: {body}");
    }
    // Signing in with a look-alike reaches the same account.
    assert_eq!(
        app.login("ｕｎｉａｄｍｉｎ", PASSWORD).await.status(),
        StatusCode::OK
    );
    let stored = app
        .post_json(
            "/users",
            &json!({"username": "ｆｕｌｌｗｉｄｔｈ", "email": "fw@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(stored.status(), StatusCode::CREATED);
    assert_eq!(
        stored.json::<Value>().await.unwrap()["username"],
        "fullwidth"
    );
}

/// Cursor pages, as DRF's CursorPagination: an empty `cursor` starts, `next`
/// and `previous` walk both ways through every user exactly once, `search`
/// and `limit` hold, no `count`; a tampered cursor is 400.
#[tokio::test]
async fn cursor_pages_walk_both_ways_and_refuse_tampering() {
    let app = spawn_app_with_settings(&[("REGISTER_RATE", "off")]).await;
    let alice = app.signed_in("alice").await;
    for i in 0..6 {
        app.register(&format!("member{i}")).await;
    }
    let token = Some(alice.token.as_str());
    let path_of = |url: &str| url.strip_prefix(&app.address).unwrap().to_owned();

    let mut seen = Vec::new();
    let mut page = app.get_json("/users?cursor=&limit=3", token).await;
    assert!(page.get("count").is_none(), "{page}");
    assert!(page["previous"].is_null());
    let mut forward_pages = vec![page.clone()];
    loop {
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_i64().unwrap()),
        );
        let Some(next) = page["next"].as_str() else {
            break;
        };
        page = app.get_json(&path_of(next), token).await;
        forward_pages.push(page.clone());
    }
    assert_eq!(seen, (1..=7).collect::<Vec<i64>>());
    assert_eq!(forward_pages.len(), 3);

    // Back from the last page: the same pages in reverse.
    let mut back = forward_pages.last().unwrap().clone();
    for expected in forward_pages.iter().rev().skip(1) {
        let previous = back["previous"].as_str().unwrap().to_owned();
        back = app.get_json(&path_of(&previous), token).await;
        assert_eq!(back["results"], expected["results"]);
    }
    assert!(back["previous"].is_null(), "{back}");

    let searched = app
        .get_json("/users?cursor=&search=MEMBER&limit=4", token)
        .await;
    let names: Vec<&str> = searched["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["member0", "member1", "member2", "member3"]);
    let rest = app
        .get_json(&path_of(searched["next"].as_str().unwrap()), token)
        .await;
    assert_eq!(rest["results"].as_array().unwrap().len(), 2);
    assert!(rest["next"].is_null());

    let next = forward_pages[0]["next"].as_str().unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap().to_owned();
    let mut tampered = cursor.into_bytes();
    tampered[1] = if tampered[1] == b'1' { b'2' } else { b'1' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_problem(
        app.get(&format!("/users?cursor={tampered}"), token).await,
        400,
    )
    .await;
    assert_problem(app.get("/users?cursor=not-a-cursor", token).await, 400).await;
}

/// Search answers exactly what a substring scan of the normalised
/// usernames answers, whether the term is long enough for the trigram
/// index (three characters and more) or not, in both paging modes, and
/// stays right after renames and deletes (the index follows by triggers).
#[tokio::test]
async fn search_through_the_index_answers_what_a_scan_answers() {
    let app = spawn_app().await;
    let staff = app.signed_in_staff("staffer", false).await;
    let token = Some(staff.token.as_str());
    let names = [
        "anna", "hannah", "joANNa", "an_na", "an.na", "über", "Überall", "x@y.z", "annanna",
    ];
    let mut ids = std::collections::HashMap::new();
    for (i, name) in names.into_iter().enumerate() {
        let body =
            json!({"username": name, "email": format!("u{i}@example.com"), "password": PASSWORD});
        let response = app.post_json("/users", &body, None).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
        ids.insert(
            name,
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // Rename one and delete another: the index must follow.
    let renamed = app
        .patch_json(
            &format!("/users/{}", ids["hannah"]),
            &json!({"username": "hANNAbel"}),
            token,
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let deleted = app
        .delete(&format!("/users/{}", ids["annanna"]), token)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let now: Vec<&str> = vec![
        "staffer", "anna", "hANNAbel", "joANNa", "an_na", "an.na", "über", "Überall", "x@y.z",
    ];
    // Five characters and more (username_fivegrams): a piece only the old
    // name held, one only the new name holds, a dot and an underscore, a
    // longer term rechecked, one whose every five-character piece some
    // name holds but no name holds whole, and a non-ASCII one.
    let long = [
        "hanna",
        "annab",
        "an.na",
        "an_na",
        "nnabel",
        "joANNAbel",
        "überall",
    ];
    for term in [
        "a", "an", "ann", "ANNA", "nnab", "n_n", "n.n", "_", "ÜB", "ÜBE", "über", "@y.", "zz",
        "nna", "annanna",
        // Three characters only the old name held, only the new one holds,
        // and only the deleted user held.
        "NAH", "bel", "nan",
    ]
    .into_iter()
    .chain(long)
    {
        let lowered = term.to_lowercase();
        let expected: Vec<&str> = now
            .iter()
            .copied()
            .filter(|name| name.to_lowercase().contains(&lowered))
            .collect();
        let query = format!("search={}", urlencode(term));
        let page: Value = app
            .get_json(&format!("/users?{query}&limit=100"), token)
            .await;
        assert_eq!(page["count"], expected.len(), "count for {term:?}");
        assert_eq!(usernames(&page), expected, "page for {term:?}");
        let page: Value = app
            .get_json(&format!("/users?{query}&cursor=&limit=100"), token)
            .await;
        assert_eq!(usernames(&page), expected, "cursor page for {term:?}");
        // Two at a time, forward to the end and back to the start.
        let path_of = |url: &str| url.strip_prefix(&app.address).unwrap().to_owned();
        let mut page: Value = app
            .get_json(&format!("/users?{query}&cursor=&limit=2"), token)
            .await;
        let owned = |page: &Value| -> Vec<String> {
            usernames(page).into_iter().map(str::to_owned).collect()
        };
        let mut forward = owned(&page);
        while let Some(next) = page["next"].as_str().map(path_of) {
            page = app.get_json(&next, token).await;
            forward.extend(owned(&page));
        }
        assert_eq!(forward, expected, "cursor pages for {term:?}");
        let mut backward = owned(&page);
        while let Some(previous) = page["previous"].as_str().map(path_of) {
            page = app.get_json(&previous, token).await;
            backward.splice(0..0, owned(&page));
        }
        assert_eq!(backward, expected, "cursor pages back for {term:?}");
        // An offset page in the middle, with the whole count.
        let page: Value = app
            .get_json(&format!("/users?{query}&limit=1&offset=1"), token)
            .await;
        assert_eq!(
            page["count"],
            expected.len(),
            "count on page 2 for {term:?}"
        );
        assert_eq!(
            usernames(&page),
            expected.get(1..2).unwrap_or_default(),
            "{term:?}"
        );
    }
}

/// The unfiltered count is kept by the database in the same transaction
/// as every insert and delete, whoever makes them (the API, the CLI, a
/// cascade), and agrees with the rows.
#[tokio::test]
async fn the_count_follows_every_insert_and_delete() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let count = |page: Value| page["count"].as_i64().unwrap();
    assert_eq!(count(app.get_json("/users", Some(&alice.token)).await), 1);
    let bob = app.register("bob").await["id"].as_i64().unwrap();
    app.register("carol").await;
    let made = app
        .command()
        .args([
            "createsuperuser",
            "--username",
            "root",
            "--email",
            "root@example.com",
        ])
        .env("PORTRAIT_SUPERUSER_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(made.status.success());
    assert_eq!(count(app.get_json("/users", Some(&alice.token)).await), 4);
    let bob_token = app
        .login("bob", PASSWORD)
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(&format!("/users/{bob}"), Some(&bob_token))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // A registration refused by a constraint changes nothing.
    let taken = app
        .post_json(
            "/users",
            &json!({"username": "ALICE", "email": "x@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert_eq!(count(app.get_json("/users", Some(&alice.token)).await), 3);
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 3);
    assert_eq!(app.count_rows("SELECT n FROM user_count"), 3);
}

fn usernames(page: &Value) -> Vec<&str> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect()
}

fn urlencode(term: &str) -> String {
    term.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
