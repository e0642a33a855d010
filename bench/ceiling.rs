//! The framework's ceiling on this machine: a minimal actix-web server whose
//! one handler serializes a fixed Profile of the same shape and size as
//! GET /users/{id}/profile returns. No database, no auth, no middleware.
//! Usage: cargo run --release --features bench-tools --bin ceiling -- 127.0.0.1:8090

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;

#[derive(Serialize)]
struct Image {
    url: &'static str,
    width: i32,
    height: i32,
    is_default: bool,
}

#[derive(Serialize)]
struct Profile {
    user_id: i64,
    username: &'static str,
    bio: &'static str,
    image: Image,
    updated_at: &'static str,
}

async fn profile(_id: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().json(Profile {
        user_id: 1,
        username: "bench",
        bio: "",
        image: Image {
            url: "/media/profile_pics/3f9c0e1a2b4d6f8091a2b3c4d5e6f708.jpg",
            width: 300,
            height: 225,
            is_default: false,
        },
        updated_at: "2026-11-24T21:00:00.123456Z",
    })
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().route("/users/{id}/profile", web::get().to(profile)))
            .bind(addr)?
            .run()
            .await
    })
}
