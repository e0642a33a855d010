//! Profile pictures over HTTP: uploads in every format, limits, the stored
//! bytes, the file lifecycle, /media serving.

use std::io::{Read, Write};
use std::time::Duration;

use image::GenericImageView;
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::support::images::*;
use crate::support::{assert_problem, spawn_app, spawn_app_with_settings, TestApp, TestUser};

async fn upload(app: &TestApp, user: &TestUser, bytes: Vec<u8>) -> Response {
    app.upload_picture(&user.token, bytes).await
}

async fn upload_ok(app: &TestApp, user: &TestUser, bytes: Vec<u8>) -> Value {
    let response = upload(app, user, bytes).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The stored name behind a profile's image URL (in either store).
fn stored_file(profile: &Value) -> String {
    let url = profile["image"]["url"].as_str().unwrap();
    url.strip_prefix("/media/").unwrap().to_owned()
}

fn stored_pics(app: &TestApp) -> Vec<String> {
    app.stored_pics()
}

/// The picture a profile shows, decoded from the store's bytes.
fn decode(app: &TestApp, profile: &Value) -> image::DynamicImage {
    image::load_from_memory(&app.stored_picture(profile)).unwrap()
}

#[tokio::test]
async fn a_large_jpeg_is_stored_as_a_300_pixel_jpeg_under_a_new_name() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let profile = upload_ok(&app, &alice, jpeg(&marked(1200, 900))).await;
    assert_eq!(profile["image"]["width"], 300);
    assert_eq!(profile["image"]["height"], 225);
    assert_eq!(profile["image"]["is_default"], false);
    let url = profile["image"]["url"].as_str().unwrap();
    assert!(
        url.starts_with("/media/profile_pics/") && url.ends_with("-300.jpg"),
        "{url}"
    );
    assert!(!url.contains("passwd"));
    let stem = url.rsplit('/').next().unwrap().trim_end_matches("-300.jpg");
    assert!(
        stem.len() >= 32 && stem.chars().all(|c| c.is_ascii_hexdigit()),
        "{stem}"
    );

    let stored = decode(&app, &profile).into_rgb8();
    assert_eq!(stored.dimensions(), (300, 225));
    assert!(close_to(stored.get_pixel(30, 30).0, RED));
    assert!(close_to(stored.get_pixel(270, 200).0, BLUE));

    // The profile and the user's view agree.
    let fetched: Value = app
        .get_json(&format!("/users/{}/profile", alice.id), None)
        .await;
    assert_eq!(fetched["image"], profile["image"]);
}

#[tokio::test]
async fn every_exif_orientation_is_applied() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let shown = marked(64, 32);
    for orientation in 1..=8u8 {
        let stored = stored_for_orientation(&shown, orientation);
        let bytes = with_exif(&jpeg(&stored), &exif_block(u16::from(orientation)));
        let profile = upload_ok(&app, &alice, bytes).await;
        assert_eq!(
            (
                profile["image"]["width"].as_i64(),
                profile["image"]["height"].as_i64()
            ),
            (Some(64), Some(32)),
            "orientation {orientation}"
        );
        let result = decode(&app, &profile).into_rgb8();
        assert_eq!(result.dimensions(), (64, 32));
        assert!(
            close_to(result.get_pixel(8, 4).0, RED),
            "orientation {orientation}: top-left not red"
        );
        assert!(
            close_to(result.get_pixel(56, 28).0, BLUE),
            "orientation {orientation}: bottom-right not blue"
        );
        assert!(
            close_to(result.get_pixel(56, 4).0, BLUE),
            "orientation {orientation}: top-right not blue"
        );
    }
}

#[tokio::test]
async fn metadata_is_dropped_from_the_stored_bytes() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let original = with_exif(&jpeg(&marked(400, 300)), &exif_block(1));
    assert!(original.windows(9).any(|w| w == b"SECRETCAM"));
    let profile = upload_ok(&app, &alice, original).await;
    let stored = app.stored_picture(&profile);
    for needle in [&b"Exif"[..], b"SECRETCAM", b"GPS-SECRET"] {
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "{} survived",
            String::from_utf8_lossy(needle)
        );
    }
}

#[tokio::test]
async fn transparency_is_kept_as_png_and_opaque_png_becomes_jpeg() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let profile = upload_ok(&app, &alice, alpha_png(600, 400)).await;
    let url = profile["image"]["url"].as_str().unwrap();
    assert!(url.ends_with(".png"), "{url}");
    let stored = decode(&app, &profile).into_rgba8();
    assert_eq!(stored.dimensions(), (300, 200));
    assert_eq!(stored.get_pixel(20, 100).0[3], 0);
    assert_eq!(stored.get_pixel(280, 100).0[3], 255);

    let opaque = png(&image::DynamicImage::ImageRgb8(marked(600, 400)));
    let profile = upload_ok(&app, &alice, opaque).await;
    assert!(profile["image"]["url"].as_str().unwrap().ends_with(".jpg"));
    let opaque_rgba = png(&image::DynamicImage::ImageRgba8(
        image::DynamicImage::ImageRgb8(marked(60, 40)).into_rgba8(),
    ));
    let profile = upload_ok(&app, &alice, opaque_rgba).await;
    assert!(
        profile["image"]["url"].as_str().unwrap().ends_with(".jpg"),
        "opaque alpha channel is not transparency"
    );
}

#[tokio::test]
async fn gif_webp_cmyk_and_16_bit_sources_come_out_right() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;

    // 80×60: only the 64 box fits it, so 64×48 is every rendition.
    let profile = upload_ok(&app, &alice, animated_gif(80, 60)).await;
    let first_frame = decode(&app, &profile).into_rgb8();
    assert_eq!(first_frame.dimensions(), (64, 48));
    assert!(
        close_to(first_frame.get_pixel(32, 24).0, RED),
        "first frame is red"
    );

    let rgba = image::DynamicImage::ImageRgb8(marked(500, 250)).into_rgba8();
    let profile = upload_ok(&app, &alice, webp(&rgba)).await;
    assert_eq!(
        (
            profile["image"]["width"].as_i64(),
            profile["image"]["height"].as_i64()
        ),
        (Some(300), Some(150))
    );
    let stored = decode(&app, &profile).into_rgb8();
    assert!(close_to(stored.get_pixel(20, 20).0, RED));

    let profile = upload_ok(&app, &alice, cmyk_jpeg(640, 480, RED)).await;
    let stored = decode(&app, &profile).into_rgb8();
    assert_eq!(stored.dimensions(), (300, 225));
    assert!(
        close_to(stored.get_pixel(150, 110).0, RED),
        "CMYK came out {:?}",
        stored.get_pixel(150, 110).0
    );

    let profile = upload_ok(&app, &alice, png16(400, 400, BLUE)).await;
    let stored = decode(&app, &profile).into_rgb8();
    assert_eq!(stored.dimensions(), (300, 300));
    assert!(close_to(stored.get_pixel(150, 150).0, BLUE));
}

#[tokio::test]
async fn a_small_picture_is_not_enlarged() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    // Smaller than every size: one rendition, its own size.
    let profile = upload_ok(&app, &alice, jpeg(&marked(50, 40))).await;
    assert_eq!(
        (
            profile["image"]["width"].as_i64(),
            profile["image"]["height"].as_i64()
        ),
        (Some(50), Some(40))
    );
    assert_eq!(decode(&app, &profile).dimensions(), (50, 40));
    assert_eq!(profile["image"]["variants"].as_array().unwrap().len(), 2);
    // 120×80: the sizes it covers (64), none enlarged to 128 or 300.
    let profile = upload_ok(&app, &alice, jpeg(&marked(120, 80))).await;
    let widths: Vec<i64> = profile["image"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["width"].as_i64().unwrap())
        .collect();
    assert_eq!(widths, vec![64, 64]);
    assert_eq!(decode(&app, &profile).dimensions(), (64, 43));
}

#[tokio::test]
async fn replacing_and_deleting_remove_the_old_file_but_never_the_default() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let first = upload_ok(&app, &alice, jpeg(&marked(100, 100))).await;
    let first_file = stored_file(&first);
    assert!(app.stored(&first_file).is_some());
    let second = upload_ok(&app, &alice, jpeg(&marked(100, 100))).await;
    assert_ne!(
        first["image"]["url"], second["image"]["url"],
        "every change gets a new name"
    );
    assert!(
        app.stored(&first_file).is_none(),
        "old file removed after replace"
    );
    let second_file = stored_file(&second);
    assert!(app.stored(&second_file).is_some());

    let response = app.delete("/profile/picture", Some(&alice.token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["image"]["url"], "/media/default.jpg");
    assert_eq!(profile["image"]["is_default"], true);
    assert!(
        app.stored(&second_file).is_none(),
        "old file removed after delete"
    );
    assert!(app.stored("default.jpg").is_some());
    // Deleting again keeps the default picture.
    assert_eq!(
        app.delete("/profile/picture", Some(&alice.token))
            .await
            .status(),
        StatusCode::OK
    );
    assert!(app.stored("default.jpg").is_some());
    assert!(stored_pics(&app).is_empty());
}

#[tokio::test]
async fn deleting_a_user_removes_its_picture_file() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let profile = upload_ok(&app, &alice, jpeg(&marked(100, 100))).await;
    let file = stored_file(&profile);
    assert!(app.stored(&file).is_some());
    assert_eq!(
        app.delete(&format!("/users/{}", alice.id), Some(&alice.token))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert!(app.stored(&file).is_none());
    assert!(app.stored("default.jpg").is_some());
}

#[tokio::test]
async fn bad_uploads_are_refused_and_change_nothing() {
    let app = spawn_app_with_settings(&[("MAX_IMAGE_PIXELS", "250000")]).await;
    let alice = app.signed_in("alice").await;
    let before: Value = app.get_json("/profile", Some(&alice.token)).await;

    let problem = assert_problem(
        upload(
            &app,
            &alice,
            b"GIF is not what this is; plain text".to_vec(),
        )
        .await,
        415,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("image/jpeg"));
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    assert_problem(upload(&app, &alice, svg).await, 415).await;

    let full = jpeg(&marked(400, 300));
    let truncated = full[..full.len() / 2].to_vec();
    assert!(
        assert_problem(upload(&app, &alice, truncated).await, 422).await["errors"]["image"]
            .is_array()
    );
    let mut corrupt = png(&image::DynamicImage::ImageRgb8(marked(100, 100)));
    let len = corrupt.len();
    corrupt[40..len - 20].iter_mut().for_each(|b| *b = 0x5A);
    assert_problem(upload(&app, &alice, corrupt).await, 422).await;

    // Over the pixel limit: refused from the header, for every format.
    let problem = assert_problem(upload(&app, &alice, jpeg(&marked(600, 500))).await, 422).await;
    assert!(problem["errors"]["image"][0]
        .as_str()
        .unwrap()
        .contains("pixels"));
    assert_problem(
        upload(
            &app,
            &alice,
            png(&image::DynamicImage::ImageRgb8(marked(600, 500))),
        )
        .await,
        422,
    )
    .await;
    assert_problem(upload(&app, &alice, huge_png_header()).await, 422).await;

    // No image part at all.
    let form = Form::new().text("avatar", "nope");
    let response = app
        .client
        .put(app.url("/profile/picture"))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(assert_problem(response, 422).await["errors"]["image"].is_array());
    // Not multipart.
    let response = app
        .client
        .put(app.url("/profile/picture"))
        .bearer_auth(&alice.token)
        .body(jpeg(&marked(10, 10)))
        .header("content-type", "image/jpeg")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415).await;
    // Not signed in.
    let response = app
        .client
        .put(app.url("/profile/picture"))
        .multipart(Form::new().part("image", Part::bytes(jpeg(&marked(10, 10)))))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401).await;

    let after: Value = app.get_json("/profile", Some(&alice.token)).await;
    assert_eq!(before, after);
    assert!(stored_pics(&app).is_empty(), "no file left behind");
}

/// A PNG that declares 100000×100000 pixels and carries no pixel data.
fn huge_png_header() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn post_works_like_put() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let form = Form::new().part(
        "image",
        Part::bytes(jpeg(&marked(50, 50))).file_name("me.jpg"),
    );
    let response = app
        .client
        .post(app.url("/profile/picture"))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["image"]["width"],
        50
    );
}

#[tokio::test]
async fn an_oversized_upload_is_413_and_leaves_nothing() {
    let app = spawn_app_with_settings(&[("MAX_UPLOAD_BYTES", "20000")]).await;
    let alice = app.signed_in("alice").await;
    let noise: Vec<u8> = (0..60_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let big = jpeg(&image::RgbImage::from_fn(200, 100, |x, y| {
        let v = noise[((x + y * 200) as usize) % noise.len()];
        image::Rgb([v, v.wrapping_mul(3), v.wrapping_mul(7)])
    }));
    assert!(big.len() > 20_000, "{}", big.len());
    assert_problem(upload(&app, &alice, big).await, 413).await;
    assert!(stored_pics(&app).is_empty());
}

/// The answer comes while the client is still sending: the server stops at
/// the limit instead of reading (or buffering) the rest of the body.
#[tokio::test]
async fn the_413_arrives_before_the_whole_body_is_sent() {
    let app = spawn_app_with_settings(&[("MAX_UPLOAD_BYTES", "100000")]).await;
    let alice = app.signed_in("alice").await;
    let address = app.address.strip_prefix("http://").unwrap().to_owned();
    let token = alice.token.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let boundary = "portrait-boundary";
        let head = format!(
            "PUT /profile/picture HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let part_head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        );
        let mut first = part_head.into_bytes();
        first.extend(vec![0xFFu8; 150_000]);
        stream.write_all(format!("{:x}\r\n", first.len()).as_bytes()).unwrap();
        stream.write_all(&first).unwrap();
        stream.write_all(b"\r\n").unwrap();
        // The body would go on for 100 MB more; the answer must not wait for it.
        let mut response = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    response.extend_from_slice(&buffer[..n]);
                    if response.windows(4).any(|w| w == b"\r\n\r\n") && String::from_utf8_lossy(&response).contains("}") {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .unwrap();
    assert!(outcome.starts_with("HTTP/1.1 413"), "{outcome}");
    assert!(outcome
        .to_ascii_lowercase()
        .contains("content-type: application/problem+json"));
    assert!(stored_pics(&app).is_empty());
}

#[tokio::test]
async fn pictures_are_served_with_cache_headers_etag_and_conditional_get() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let profile = upload_ok(&app, &alice, jpeg(&marked(100, 100))).await;
    let url = profile["image"]["url"].as_str().unwrap();
    let response = app.get(url, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let body = response.bytes().await.unwrap();
    assert_eq!(body.as_ref(), app.stored_picture(&profile).as_slice());

    let again = app
        .client
        .get(app.url(url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let default = app.get("/media/default.jpg", None).await;
    assert_eq!(default.status(), StatusCode::OK);
    assert_eq!(default.headers()["content-type"], "image/jpeg");
    assert_ne!(
        default.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
}

#[tokio::test]
async fn nothing_outside_media_root_is_ever_served() {
    let app = spawn_app().await;
    let outside = app.media_root.parent().unwrap().join("secret.txt");
    // With TEST_STORAGE=s3 nothing made MEDIA_ROOT: these files must not
    // be served from there either.
    std::fs::create_dir_all(&app.media_root).unwrap();
    std::fs::write(&outside, b"top secret").unwrap();
    std::os::unix::fs::symlink(&outside, app.media_root.join("link.jpg")).unwrap();
    std::fs::write(app.media_root.join(".env"), b"JWT_SECRET=x").unwrap();
    let address = app.address.strip_prefix("http://").unwrap().to_owned();
    let paths = [
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/..%2fsecret.txt",
        "/media/profile_pics/..%2f..%2fsecret.txt",
        "/media/%2e%2e%2fsecret.txt",
        "/media//etc/passwd",
        "/media/link.jpg",
        "/media/.env",
        "/media/profile_pics",
        "/media/profile_pics/",
        "/media/",
        "/media/nope.jpg",
    ];
    for path in paths {
        let raw = raw_get(&address, path).await;
        assert!(raw.starts_with("HTTP/1.1 404"), "{path}: {raw}");
        assert!(
            !raw.contains("top secret") && !raw.contains("JWT_SECRET"),
            "{path}"
        );
    }
}

/// GET with the path sent exactly as written (no client normalisation).
async fn raw_get(address: &str, path: &str) -> String {
    let address = address.to_owned();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    })
    .await
    .unwrap()
}

/// Picture work runs off the async workers, a few at a time: while large
/// uploads are being processed, /healthz still answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthz_answers_while_large_uploads_are_processed() {
    let app = std::sync::Arc::new(spawn_app().await);
    let alice = app.signed_in("alice").await;
    let big = png(&image::DynamicImage::ImageRgb8(marked(2400, 1800)));
    let uploads: Vec<_> = (0..4)
        .map(|_| {
            let (app, token, big) = (app.clone(), alice.token.clone(), big.clone());
            tokio::spawn(async move {
                let form = Form::new().part("image", Part::bytes(big).file_name("big.png"));
                app.client
                    .put(app.url("/profile/picture"))
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut slowest = Duration::ZERO;
    let mut still_busy = false;
    for _ in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
        still_busy |= uploads.iter().any(|u| !u.is_finished());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for upload in uploads {
        assert_eq!(upload.await.unwrap(), StatusCode::OK);
    }
    assert!(
        still_busy,
        "the uploads were still being processed while /healthz was asked"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "/healthz took {slowest:?} during uploads"
    );
}
