//! Pictures for every screen, as a front end sees them: each rendition
//! fetched and decoded (its real size and format), srcset URLs that
//! resolve, a ThumbHash with the picture's shape, transparency kept, the
//! crop applied after EXIF orientation, HEIC and AVIF refused by name, and
//! If-Match keeping two devices from overwriting each other.

use base64::Engine;
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::support::images::*;
use crate::support::{assert_problem, spawn_app, spawn_app_with_settings, TestApp, TestUser};

/// PUT /profile/picture with `parts` (name, bytes) in this order, and an
/// optional If-Match.
async fn put_form(
    app: &TestApp,
    user: &TestUser,
    parts: Vec<(&'static str, Vec<u8>)>,
    if_match: Option<&str>,
) -> Response {
    let mut form = Form::new();
    for (name, bytes) in parts {
        form = form.part(name, Part::bytes(bytes).file_name("upload.bin"));
    }
    let mut request = app
        .client
        .put(app.url("/profile/picture"))
        .bearer_auth(&user.token)
        .multipart(form);
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    request.send().await.unwrap()
}

async fn fetch(app: &TestApp, url: &str) -> (String, Vec<u8>) {
    let response = app.get(url, None).await;
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.bytes().await.unwrap().to_vec())
}

fn profile_pics(app: &TestApp) -> Vec<String> {
    app.stored_pics()
}

#[tokio::test]
async fn every_rendition_is_served_at_its_own_size_and_format() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = put_form(
        &app,
        &alice,
        vec![("image", jpeg(&marked(1200, 900)))],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let profile: Value = response.json().await.unwrap();
    let image = &profile["image"];

    let variants = image["variants"].as_array().unwrap();
    let listed: Vec<(i64, i64, &str)> = variants
        .iter()
        .map(|v| {
            (
                v["width"].as_i64().unwrap(),
                v["height"].as_i64().unwrap(),
                v["format"].as_str().unwrap(),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for format in ["jpeg", "webp"] {
        for (w, h) in [(64, 48), (128, 96), (300, 225), (600, 450)] {
            expected.push((w, h, format));
        }
    }
    assert_eq!(listed, expected);

    let stem = image["url"]
        .as_str()
        .unwrap()
        .strip_suffix("-300.jpg")
        .expect("url is the 300 rendition in JPEG")
        .to_owned();
    for variant in variants {
        let url = variant["url"].as_str().unwrap();
        let (width, format) = (
            variant["width"].as_i64().unwrap(),
            variant["format"].as_str().unwrap(),
        );
        let extension = if format == "jpeg" { "jpg" } else { format };
        assert_eq!(
            url,
            format!("{stem}-{width}.{extension}"),
            "one stem for all"
        );
        let (content_type, bytes) = fetch(&app, url).await;
        assert_eq!(content_type, format!("image/{format}"));
        let guessed = image::guess_format(&bytes).unwrap();
        assert_eq!(
            guessed,
            if format == "jpeg" {
                image::ImageFormat::Jpeg
            } else {
                image::ImageFormat::WebP
            }
        );
        let decoded = image::load_from_memory(&bytes).unwrap().into_rgb8();
        assert_eq!(
            (decoded.width() as i64, decoded.height() as i64),
            (width, variant["height"].as_i64().unwrap()),
            "{url}"
        );
        let (w, h) = decoded.dimensions();
        assert!(close_to(decoded.get_pixel(w / 5, h / 5).0, RED), "{url}");
        assert!(
            close_to(decoded.get_pixel(4 * w / 5, 4 * h / 5).0, BLUE),
            "{url}"
        );
    }

    // srcset: every rendition of a format, with its width.
    for (format, extension) in [("jpeg", "jpg"), ("webp", "webp")] {
        let srcset = image["srcset"][format].as_str().unwrap();
        let want: Vec<String> = [64, 128, 300, 600]
            .iter()
            .map(|w| format!("{stem}-{w}.{extension} {w}w"))
            .collect();
        assert_eq!(srcset, want.join(", "));
        for candidate in srcset.split(", ") {
            let url = candidate.split(' ').next().unwrap();
            assert_eq!(app.get(url, None).await.status(), StatusCode::OK);
        }
    }

    // The ThumbHash has the picture's shape.
    let hash = base64::engine::general_purpose::STANDARD
        .decode(image["thumbhash"].as_str().unwrap())
        .unwrap();
    let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
    assert!((ratio - 4.0 / 3.0).abs() < 0.2, "{ratio}");
    let (w, h, _) = thumbhash::thumb_hash_to_rgba(&hash).unwrap();
    assert!(w > h, "{w}×{h}");

    // The read sends the same version the write answered.
    let read = app.get("/profile", Some(&alice.token)).await;
    assert_eq!(read.headers()["etag"], etag.as_str());
    let public = app.get(&format!("/users/{}/profile", alice.id), None).await;
    assert_eq!(public.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn transparency_is_kept_in_png_and_webp() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let profile: Value = put_form(&app, &alice, vec![("image", alpha_png(400, 200))], None)
        .await
        .json()
        .await
        .unwrap();
    let image = &profile["image"];
    assert!(image["url"].as_str().unwrap().ends_with("-300.png"));
    assert!(image["srcset"]["png"].is_string() && image["srcset"]["webp"].is_string());
    for variant in image["variants"].as_array().unwrap() {
        let (content_type, bytes) = fetch(&app, variant["url"].as_str().unwrap()).await;
        assert!(content_type == "image/png" || content_type == "image/webp");
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert!(decoded.color().has_alpha(), "{content_type}");
        let rgba = decoded.into_rgba8();
        let (w, h) = rgba.dimensions();
        assert!(rgba.get_pixel(w / 8, h / 2).0[3] < 20, "clear stays clear");
        assert!(
            rgba.get_pixel(7 * w / 8, h / 2).0[3] > 235,
            "opaque stays opaque"
        );
    }
}

#[tokio::test]
async fn the_crop_is_applied_after_orientation_and_before_resizing() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    // Seen upright, the top-left quarter is red; stored turned, with EXIF
    // orientation 6 to turn it back.
    let shown = marked(800, 600);
    let stored = with_exif(&jpeg(&stored_for_orientation(&shown, 6)), &exif_block(6));
    for parts in [
        vec![("crop", b"0,0,0.5,0.5".to_vec()), ("image", stored.clone())],
        vec![
            ("image", stored.clone()),
            ("crop", b" 0 , 0 , 0.5 , 0.5 ".to_vec()),
        ],
    ] {
        let response = put_form(&app, &alice, parts, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let profile: Value = response.json().await.unwrap();
        // 400×300 kept: the 300 box is the largest that fits.
        assert_eq!(profile["image"]["width"], 300);
        assert_eq!(profile["image"]["height"], 225);
        let widths: Vec<i64> = profile["image"]["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["width"].as_i64().unwrap())
            .collect();
        assert_eq!(widths, [64, 128, 300, 64, 128, 300]);
        let (_, bytes) = fetch(&app, profile["image"]["url"].as_str().unwrap()).await;
        let picture = image::load_from_memory(&bytes).unwrap().into_rgb8();
        for (x, y) in [(5, 5), (295, 5), (5, 220), (295, 220), (150, 112)] {
            assert!(
                close_to(picture.get_pixel(x, y).0, RED),
                "({x},{y}) is {:?}: only the red quarter is kept",
                picture.get_pixel(x, y).0
            );
        }
    }

    let before = profile_pics(&app);
    for bad in [
        "0,0,0.5",
        "0.6,0,0.5,1",
        "0,0,0,1",
        "-0.1,0,0.5,0.5",
        "a,b,c,d",
    ] {
        let refused = put_form(
            &app,
            &alice,
            vec![
                ("image", jpeg(&marked(100, 100))),
                ("crop", bad.as_bytes().to_vec()),
            ],
            None,
        )
        .await;
        let problem = assert_problem(refused, 422).await;
        assert!(problem["errors"]["crop"].is_array(), "{bad}: {problem}");
    }
    let both = put_form(&app, &alice, vec![("crop", b"2,2,2,2".to_vec())], None).await;
    let problem = assert_problem(both, 422).await;
    assert!(problem["errors"]["crop"].is_array() && problem["errors"]["image"].is_array());
    assert_eq!(profile_pics(&app), before, "a refused crop stores nothing");
}

#[tokio::test]
async fn heic_heif_and_avif_are_refused_by_name() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let ftyp = |major: &[u8; 4], compatible: &[u8; 4]| {
        let mut bytes = 24u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(major);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(b"mif1");
        bytes.extend_from_slice(compatible);
        bytes.extend_from_slice(&[0, 0, 0, 8, b'm', b'd', b'a', b't']);
        bytes
    };
    for (bytes, name, media_type) in [
        (ftyp(b"heic", b"heic"), "HEIC", "image/heic"),
        (ftyp(b"mif1", b"miaf"), "HEIF", "image/heif"),
        (ftyp(b"avif", b"avif"), "AVIF", "image/avif"),
    ] {
        let response = put_form(&app, &alice, vec![("image", bytes)], None).await;
        let problem = assert_problem(response, 415).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(name) && detail.contains(media_type),
            "{detail}"
        );
        assert!(
            detail.contains("image/jpeg, image/png, image/webp, image/gif"),
            "{detail}"
        );
    }
}

/// Two devices read the profile, then both change it: the second one's
/// If-Match is stale, so it gets 412 and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let path = format!("/users/{}/profile", alice.id);
    let read = app.get(&path, None).await;
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong tag: {etag}"
    );

    let patch = |bio: &'static str| {
        let (app, token, path, etag) = (&app, alice.token.clone(), path.clone(), etag.clone());
        async move {
            app.client
                .patch(app.url(&path))
                .bearer_auth(token)
                .header("If-Match", etag)
                .json(&json!({"bio": bio}))
                .send()
                .await
                .unwrap()
        }
    };
    let (phone, laptop) = tokio::join!(patch("from the phone"), patch("from the laptop"));
    let mut statuses = [phone.status().as_u16(), laptop.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "exactly one wins");
    let (winner, loser, bio) = if phone.status() == StatusCode::OK {
        (phone, laptop, "from the phone")
    } else {
        (laptop, phone, "from the laptop")
    };
    let new_etag = winner.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_problem(loser, 412).await;
    let now = app.get(&path, None).await;
    assert_eq!(now.headers()["etag"], new_etag.as_str());
    assert_eq!(now.json::<Value>().await.unwrap()["bio"], bio);

    // Picture writes honour it too; a stale one leaves no file behind.
    let files = profile_pics(&app);
    let stale = put_form(
        &app,
        &alice,
        vec![("image", jpeg(&marked(400, 300)))],
        Some(&etag),
    )
    .await;
    assert_problem(stale, 412).await;
    assert_eq!(profile_pics(&app), files);
    let weak = put_form(
        &app,
        &alice,
        vec![("image", jpeg(&marked(400, 300)))],
        Some(&format!("W/{new_etag}")),
    )
    .await;
    assert_problem(weak, 412).await;
    let deleted = app
        .client
        .delete(app.url("/profile/picture"))
        .bearer_auth(&alice.token)
        .header("If-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_problem(deleted, 412).await;
    assert_eq!(
        app.get(&path, None).await.headers()["etag"],
        new_etag.as_str()
    );

    let current = put_form(
        &app,
        &alice,
        vec![("image", jpeg(&marked(400, 300)))],
        Some(&format!("\"other\", {new_etag}")),
    )
    .await;
    assert_eq!(current.status(), StatusCode::OK);
    let any = put_form(
        &app,
        &alice,
        vec![("image", jpeg(&marked(400, 300)))],
        Some("*"),
    )
    .await;
    assert_eq!(any.status(), StatusCode::OK);
    // A username change is a new version of the profile too.
    let before = app.get(&path, None).await.headers()["etag"].clone();
    app.patch_json(
        &format!("/users/{}", alice.id),
        &json!({"username": "alicia"}),
        Some(&alice.token),
    )
    .await;
    assert_ne!(app.get(&path, None).await.headers()["etag"], before);
}

#[tokio::test]
async fn a_failed_upload_keeps_every_old_rendition() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let first: Value = put_form(&app, &alice, vec![("image", jpeg(&marked(700, 700)))], None)
        .await
        .json()
        .await
        .unwrap();
    let files = profile_pics(&app);
    assert_eq!(files.len(), 8);
    let mut corrupt = jpeg(&marked(700, 700));
    corrupt.truncate(corrupt.len() / 2);
    assert_problem(
        put_form(&app, &alice, vec![("image", corrupt)], None).await,
        422,
    )
    .await;
    assert_eq!(profile_pics(&app), files);
    let now = app.get_json("/profile", Some(&alice.token)).await;
    assert_eq!(now["image"], first["image"]);
    for variant in now["image"]["variants"].as_array().unwrap() {
        fetch(&app, variant["url"].as_str().unwrap()).await;
    }
}

#[tokio::test]
async fn sizes_and_qualities_are_settings() {
    let app = spawn_app_with_settings(&[
        ("AVATAR_SIZES", "100,200"),
        ("AVATAR_SIZE", "200"),
        ("JPEG_QUALITY", "40"),
        ("WEBP_QUALITY", "30"),
    ])
    .await;
    let alice = app.signed_in("alice").await;
    let profile: Value = put_form(
        &app,
        &alice,
        vec![("image", jpeg(&marked(1000, 500)))],
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (
            profile["image"]["width"].as_i64(),
            profile["image"]["height"].as_i64()
        ),
        (Some(200), Some(100))
    );
    let widths: Vec<i64> = profile["image"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["width"].as_i64().unwrap())
        .collect();
    assert_eq!(widths, [100, 200, 100, 200]);
    // The default picture follows the sizes too.
    let other = app.register("bob").await;
    let default_widths: Vec<i64> = other["profile"]["image"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["width"].as_i64().unwrap())
        .collect();
    assert_eq!(default_widths, [100, 200, 100, 200]);
}
