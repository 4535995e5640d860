//! The practice's users: who is emailed about notifications, and how often.

use serde_json::json;
use tidings_e2e::spawn_app;

fn user(email: &str, frequency: &str) -> serde_json::Value {
    json!({"email": email, "display_name": "Front desk", "time_zone": "America/Los_Angeles",
           "notifications": {"frequency": frequency, "daily_at": "08:00"}})
}

#[tokio::test]
async fn users_are_kept_listed_in_pages_and_removed() {
    let app = spawn_app().await;
    for (id, frequency) in [("u1", "immediate"), ("u2", "daily"), ("u3", "off")] {
        let saved =
            app.put("acct", &format!("/v1/users/{id}"), user(&format!("{id}@riverside.example"), frequency)).await;
        assert_eq!(saved.status, 200, "{}", saved.body);
        assert_eq!(saved.body["notifications"]["frequency"], frequency);
    }
    let replaced = app.put("acct", "/v1/users/u2", user("desk@riverside.example", "hourly")).await;
    assert_eq!(replaced.body["email"], "desk@riverside.example");

    let first = app.get("acct", "/v1/users?limit=2").await.body;
    let ids: Vec<&str> = first["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u1", "u2"], "{first}");
    assert_eq!(first["users"][1]["notifications"]["frequency"], "hourly");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest = app.get("acct", &format!("/v1/users?limit=2&cursor={cursor}")).await.body;
    assert_eq!(rest["users"][0]["id"], "u3");
    assert!(rest["next_cursor"].is_null(), "{rest}");
    assert_eq!(app.get("other", "/v1/users").await.body["users"], json!([]), "another practice sees none");

    assert_eq!(app.delete("acct", "/v1/users/u3").await.status, 204);
    assert_eq!(app.delete("acct", "/v1/users/u3").await.status, 404);
    assert_eq!(app.get("acct", "/v1/users").await.body["users"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_user_must_have_a_valid_email_a_name_and_a_known_frequency() {
    let app = spawn_app().await;
    for body in [
        user("not-an-address", "daily"),
        json!({"email": "a@riverside.example", "display_name": " ", "notifications": {"frequency": "daily"}}),
        user("a@riverside.example", "weekly"),
        json!({"email": "a@riverside.example", "display_name": "A", "notifications": {"frequency": "daily",
               "daily_at": "25:00"}}),
        json!({"email": "a@riverside.example", "display_name": "A", "notifications": {"frequency": "daily",
               "kinds": ["gossip"]}}),
    ] {
        let refused = app.put("acct", "/v1/users/u1", body.clone()).await;
        assert!(matches!(refused.status, 400 | 422), "{body} -> {} {}", refused.status, refused.body);
    }
    assert_eq!(app.get("acct", "/v1/users").await.body["users"], json!([]), "nothing was kept");
}
