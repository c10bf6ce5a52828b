//! Users, sessions and keys, settings, custom roles, and reopening a store.

use super::*;

pub(super) async fn users_sessions_and_keys(store: Arc<dyn Store>) {
    let name = Username::parse("ann").unwrap();
    let user = store
        .create_user(&name, "$argon2id$hash", &Role::Analyst.name(), t0())
        .await
        .unwrap();
    assert_eq!(user.role, Role::Analyst.name());
    assert_eq!(user.permissions, Role::Analyst.permissions());
    assert!(matches!(
        store
            .create_user(&name, "x", &Role::Viewer.name(), t0())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let (found, hash) = store.user_credentials(&name).await.unwrap().unwrap();
    assert_eq!((found.id, hash.as_str()), (user.id, "$argon2id$hash"));
    store
        .set_password_hash(user.id, "$argon2id$new", None)
        .await
        .unwrap();
    assert_eq!(
        store.user_credentials(&name).await.unwrap().unwrap().1,
        "$argon2id$new"
    );
    assert!(
        store
            .user_credentials(&Username::parse("bob").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let now = Utc::now();
    store
        .create_session("s1", user.id, now + TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(
        store.session_user("s1", now).await.unwrap().unwrap().id,
        user.id
    );
    assert!(
        store
            .session_user("s1", now + TimeDelta::hours(2))
            .await
            .unwrap()
            .is_none()
    );
    store.delete_session("s1").await.unwrap();
    assert!(store.session_user("s1", now).await.unwrap().is_none());

    // A new password ends every session of the user but the one kept.
    for s in ["s2", "s3", "s4"] {
        store
            .create_session(s, user.id, now + TimeDelta::hours(1))
            .await
            .unwrap();
    }
    store
        .set_password_hash(user.id, "$argon2id$newer", Some("s3"))
        .await
        .unwrap();
    let alive = |s: &'static str| {
        let store = store.clone();
        async move { store.session_user(s, now).await.unwrap().is_some() }
    };
    assert_eq!(
        (alive("s2").await, alive("s3").await, alive("s4").await),
        (false, true, false)
    );
    store
        .set_password_hash(user.id, "$argon2id$newest", None)
        .await
        .unwrap();
    assert!(!alive("s3").await, "a reset ends every session");

    let key = store
        .create_api_key(user.id, &text("siem"), "h1", "ak_1234", t0())
        .await
        .unwrap();
    assert_eq!(store.api_key_user("h1").await.unwrap().unwrap().id, user.id);
    let rotated = store
        .rotate_api_key(user.id, key.id, "h2", "ak_5678")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.prefix, "ak_5678");
    assert!(
        store.api_key_user("h1").await.unwrap().is_none(),
        "old secret dies on rotation"
    );
    assert!(store.api_key_user("h2").await.unwrap().is_some());
    assert!(
        store
            .rotate_api_key(
                aerie_domain::ids::UserId::new(user.id.get() + 1),
                key.id,
                "h3",
                "x"
            )
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .revoke_api_key(
                aerie_domain::ids::UserId::new(user.id.get() + 1),
                key.id,
                t0()
            )
            .await
            .unwrap(),
        "not theirs"
    );
    assert!(store.revoke_api_key(user.id, key.id, t0()).await.unwrap());
    assert!(
        !store.revoke_api_key(user.id, key.id, t0()).await.unwrap(),
        "already revoked"
    );
    assert!(store.api_key_user("h2").await.unwrap().is_none());
    assert!(
        store
            .rotate_api_key(user.id, key.id, "h4", "x")
            .await
            .unwrap()
            .is_none()
    );
    let keys = store.api_keys(user.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].revoked, Some(t0()));
}
pub(super) async fn settings_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.setting("role").await.unwrap(), None);
    store.set_setting("role", "cm").await.unwrap();
    store.set_setting("role", "mcm").await.unwrap();
    assert_eq!(store.setting("role").await.unwrap().as_deref(), Some("mcm"));
    store.delete_setting("role").await.unwrap();
    store.delete_setting("never-set").await.unwrap();
    store.set_setting("mcm.a", "1").await.unwrap();
    store.set_setting("mcm.b", "2").await.unwrap();
    store.set_setting("mcmx", "3").await.unwrap();
    let got = store.settings_with_prefix("mcm.").await.unwrap();
    assert_eq!(
        got,
        vec![
            ("mcm.a".to_owned(), "1".to_owned()),
            ("mcm.b".to_owned(), "2".to_owned())
        ]
    );
    assert_eq!(store.setting("role").await.unwrap(), None);
}
/// Opening a migrated database again applies nothing twice and keeps the data.
pub(super) async fn reopen_keeps_data(url: &str) {
    let first = aerie_store::SqlStore::open(url).await.unwrap();
    first.set_setting("k", "v").await.unwrap();
    let second = aerie_store::SqlStore::open(url).await.unwrap();
    assert_eq!(second.setting("k").await.unwrap().as_deref(), Some("v"));
}
#[tokio::test]
async fn sqlite_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    reopen_keeps_data(&aerie_store::SqlStore::sqlite_url(dir.path())).await;
}
#[tokio::test]
async fn postgres_reopen_keeps_data() {
    if let Some(url) = testing::fresh_postgres_url().await {
        reopen_keeps_data(&url).await;
    }
}
pub(super) async fn custom_roles_grant_their_permissions(store: Arc<dyn Store>) {
    use aerie_domain::user::{Permission, Permissions, RoleName};
    let name = RoleName::parse("r", "triage-desk").unwrap();
    let perms = Permissions::of(&[Permission::View, Permission::Triage]);
    store.create_role(&name, perms, t0()).await.unwrap();
    assert!(matches!(
        store.create_role(&name, perms, t0()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_role(&Role::Admin.name(), perms, t0()).await,
        Err(StoreError::Conflict(_))
    ));
    let user = store
        .create_user(&Username::parse("tina").unwrap(), "h", &name, t0())
        .await
        .unwrap();
    assert_eq!(user.permissions, perms);
    let (again, _) = store
        .user_credentials(&Username::parse("tina").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(again.can(Permission::Triage) && !again.can(Permission::Mitigate));
    assert_eq!(store.custom_roles().await.unwrap().len(), 1);
    assert!(
        matches!(store.delete_role(&name).await, Err(StoreError::Conflict(_))),
        "held by tina"
    );
    store
        .update_user(user.id, Some(&Role::Viewer.name()), None)
        .await
        .unwrap();
    store.delete_role(&name).await.unwrap();
    assert!(store.custom_roles().await.unwrap().is_empty());
    assert!(matches!(
        store.delete_role(&name).await,
        Err(StoreError::NotFound(_))
    ));
}
pub(super) async fn sso_state_is_kept_once(store: Arc<dyn Store>) {
    let now = t0();
    let later = now + TimeDelta::minutes(5);
    store
        .put_sso_pending("req-1", "{\"a\":1}", later)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_sso_pending("req-1", now)
            .await
            .unwrap()
            .as_deref(),
        Some("{\"a\":1}")
    );
    assert_eq!(
        store.take_sso_pending("req-1", now).await.unwrap(),
        None,
        "taken once"
    );
    store.put_sso_pending("req-2", "x", now).await.unwrap();
    assert_eq!(
        store.take_sso_pending("req-2", later).await.unwrap(),
        None,
        "an expired login is not handed out"
    );

    let ids = vec![
        ("response_id:a".to_owned(), later),
        ("assertion_id:b".to_owned(), later),
    ];
    assert!(store.use_sso_ids(&ids, now).await.unwrap());
    assert!(!store.use_sso_ids(&ids, now).await.unwrap(), "a replay");
    let partly = vec![
        ("response_id:c".to_owned(), later),
        ("assertion_id:b".to_owned(), later),
    ];
    assert!(!store.use_sso_ids(&partly, now).await.unwrap());
    assert!(
        store
            .use_sso_ids(&[("response_id:c".to_owned(), later)], now)
            .await
            .unwrap(),
        "a refused batch recorded nothing"
    );
    // Once expired, an identifier is forgotten.
    let after = later + TimeDelta::minutes(1);
    assert!(store.use_sso_ids(&ids, after).await.unwrap());
}
