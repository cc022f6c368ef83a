//! The database's own walls (P1, P13): read from the PostgreSQL catalogs and
//! tried with raw SQL beneath the store's API.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::bookings::{booking, desk, try_book};
use crate::harness::{Engine, TestDb, engines};

/// Every table with `tenant_id` has row-level security enabled and forced,
/// a policy on `app.tenant_id`, and only composite foreign keys that start
/// with `tenant_id`; the application role owns nothing and cannot bypass it.
#[tokio::test]
async fn p1_postgres_catalog_every_tenant_table_has_forced_rls_and_composite_keys() {
    for engine in engines().await {
        if engine != Engine::Postgres {
            continue;
        }
        let db = TestDb::new(engine).await;
        let owner = sea_orm::Database::connect(&db.owner_url).await.unwrap();
        let q = |sql: &str| Statement::from_string(DbBackend::Postgres, sql.to_owned());
        let tables = owner
            .query_all_raw(q("SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                                     pg_get_userbyid(c.relowner) AS owner,
                                     (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
                                     (SELECT string_agg(pg_get_expr(p.polqual, p.polrelid) || ' / ' ||
                                             pg_get_expr(p.polwithcheck, p.polrelid), ' | ')
                                        FROM pg_policy p WHERE p.polrelid = c.oid) AS policy_text
                              FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                              WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
                                AND a.attname = 'tenant_id' AND NOT a.attisdropped"))
            .await
            .unwrap();
        assert!(
            tables.len() >= 10,
            "found only {} tenant tables",
            tables.len()
        );
        for row in &tables {
            let name: String = row.try_get("", "relname").unwrap();
            let owner_name: String = row.try_get("", "owner").unwrap();
            assert_ne!(
                owner_name,
                crate::harness::APP_ROLE,
                "{name}: the app role must not own it"
            );
            // The two directories are read before a tenant is known; they
            // hold only slugs, regions and token digests. The erasure
            // tombstones are system-level: they outlive their tenant.
            if name == "tenant_directory"
                || name == "credential_directory"
                || name == "tenant_erasures"
            {
                continue;
            }
            let rls: bool = row.try_get("", "relrowsecurity").unwrap();
            let forced: bool = row.try_get("", "relforcerowsecurity").unwrap();
            let policies: i64 = row.try_get("", "policies").unwrap();
            assert!(
                rls && forced,
                "{name}: row-level security must be enabled and forced"
            );
            // Exactly one policy, the tenant equality for reads and writes:
            // a second, permissive policy or an OR would widen what a tenant
            // sees.
            let text: Option<String> = row.try_get("", "policy_text").unwrap();
            let expected = "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)";
            assert_eq!(policies, 1, "{name}: exactly one policy");
            assert_eq!(
                text.as_deref(),
                Some(format!("{expected} / {expected}").as_str()),
                "{name}: the policy must be the tenant equality"
            );
        }
        // Every foreign key between tenant tables starts with tenant_id.
        let fks = owner
            .query_all_raw(q("SELECT conrelid::regclass::text AS tbl, confrelid::regclass::text AS ref,
                                     (SELECT attname FROM pg_attribute WHERE attrelid = conrelid AND attnum = conkey[1]) AS first,
                                     array_length(conkey, 1) AS n
                              FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"))
            .await
            .unwrap();
        assert!(fks.len() >= 10);
        for fk in &fks {
            let table: String = fk.try_get("", "tbl").unwrap();
            let first: String = fk.try_get("", "first").unwrap();
            let n: i32 = fk.try_get("", "n").unwrap();
            let referenced: String = fk.try_get("", "ref").unwrap();
            let to_tenants = referenced == "tenants";
            assert!(
                first == "tenant_id" && (n >= 2 || to_tenants),
                "{table} -> {referenced}: a reference must be composite and start with tenant_id"
            );
        }
        let role = owner
            .query_one_raw(q(&format!(
                "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = '{}'",
                crate::harness::APP_ROLE
            )))
            .await
            .unwrap()
            .unwrap();
        assert!(!role.try_get::<bool>("", "rolsuper").unwrap());
        assert!(!role.try_get::<bool>("", "rolbypassrls").unwrap());
        owner.close().await.unwrap();
        db.finish().await;
    }
}

/// Beneath the store: as the application role, with no tenant set a query
/// sees nothing; with one tenant set it sees only that tenant, and cannot
/// write a row for another.
#[tokio::test]
async fn p1_postgres_rls_without_a_tenant_sees_nothing() {
    for engine in engines().await {
        if engine != Engine::Postgres {
            continue;
        }
        let db = TestDb::new(engine).await;
        let a = desk(&db.store, 1, 0, 0).await;
        let b = desk(&db.store, 1, 0, 0).await;
        try_book(&db.store, &b, &booking(&b, 0, 60, 1))
            .await
            .unwrap();
        let app = db.raw_app().await;
        let count = |sql: String| {
            let app = &app;
            async move {
                let row = app
                    .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<i64>("", "n").unwrap()
            }
        };
        assert_eq!(
            count("SELECT count(*) AS n FROM staff".into()).await,
            0,
            "no tenant set"
        );
        assert_eq!(count("SELECT count(*) AS n FROM bookings".into()).await, 0);
        let tx = app.begin().await.unwrap();
        let set = format!("SELECT set_config('app.tenant_id', '{}', true)", a.tenant);
        tx.execute_unprepared(&set).await.unwrap();
        let seen = tx
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) AS n FROM staff",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            seen.try_get::<i64>("", "n").unwrap(),
            1,
            "only A's staff member"
        );
        tx.commit().await.unwrap();
        let forged = format!(
            "BEGIN; SELECT set_config('app.tenant_id', '{}', true);
             INSERT INTO staff (tenant_id, staff_id, name) VALUES ('{}', gen_random_uuid(), 'Eve'); COMMIT;",
            a.tenant, b.tenant
        );
        let err = app.execute_unprepared(&forged).await.unwrap_err();
        assert!(
            err.to_string().contains("row-level security") || format!("{err:?}").contains("42501"),
            "{err:?}"
        );
        let _ = app.execute_unprepared("ROLLBACK").await;
        app.close().await.unwrap();
        db.finish().await;
    }
}

/// Beneath the store, on both engines: a row of tenant A that points at
/// tenant B's staff member is refused by the composite foreign key, and two
/// overlapping holds are refused by the exclusion constraint or trigger.
#[tokio::test]
async fn p1_composite_foreign_keys_refuse_cross_tenant_references() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = desk(&db.store, 1, 0, 0).await;
        let b = desk(&db.store, 1, 0, 0).await;
        let conn = sea_orm::Database::connect(&db.owner_url).await.unwrap();
        let backend = conn.get_database_backend();
        let id = |u: &uuid::Uuid| match backend {
            DbBackend::Sqlite => format!("X'{}'", u.simple()),
            _ => format!("'{u}'"),
        };
        let tenant_setting = match engine {
            Engine::Postgres => {
                format!("SELECT set_config('app.tenant_id', '{}', false);", a.tenant)
            }
            Engine::Sqlite => String::new(),
        };
        // A's service, B's staff member.
        let sql = format!(
            "{tenant_setting} INSERT INTO service_staff (tenant_id, service_id, staff_id, position) VALUES ({}, {}, {}, 9)",
            id(a.tenant.as_uuid()),
            id(a.service.id().as_uuid()),
            id(b.staff.as_uuid())
        );
        let err = conn.execute_unprepared(&sql).await.unwrap_err();
        let text = format!("{err:?}").to_lowercase();
        assert!(
            text.contains("foreign key") || text.contains("23503"),
            "{engine:?}: {text}"
        );
        // Two overlapping holds of one staff member, written directly.
        let hold = |from: i64, until: i64| {
            format!(
                "{tenant_setting} INSERT INTO holds (tenant_id, hold_id, staff_id, service_id, starts_at_us, ends_at_us,
                    held_from_us, held_until_us, capacity, seats_taken)
                 VALUES ({t}, {h}, {s}, {v}, {from}, {until}, {from}, {until}, 1, 1)",
                t = id(a.tenant.as_uuid()),
                h = id(&uuid::Uuid::new_v4()),
                s = id(a.staff.as_uuid()),
                v = id(a.service.id().as_uuid()),
            )
        };
        conn.execute_unprepared(&hold(0, 100)).await.unwrap();
        let err = conn.execute_unprepared(&hold(50, 150)).await.unwrap_err();
        let text = format!("{err:?}").to_lowercase();
        assert!(
            text.contains("bookwarden_slot_taken") || text.contains("holds_no_overlap"),
            "{engine:?}: {text}"
        );
        conn.execute_unprepared(&hold(100, 200)).await.unwrap();
        conn.close().await.unwrap();
        db.finish().await;
    }
}

/// The SQLite and PostgreSQL schemas have the same tables with the same
/// columns, so the one set of entities fits both.
#[tokio::test]
async fn p1_sqlite_and_postgres_schemas_have_the_same_tables_and_columns() {
    let engines = engines().await;
    if !engines.contains(&Engine::Postgres) {
        return;
    }
    let sqlite = TestDb::new(Engine::Sqlite).await;
    let postgres = TestDb::new(Engine::Postgres).await;
    let lite = sea_orm::Database::connect(&sqlite.owner_url).await.unwrap();
    let pg = sea_orm::Database::connect(&postgres.owner_url)
        .await
        .unwrap();
    let mut lite_cols = std::collections::BTreeSet::new();
    let tables = lite
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        ))
        .await
        .unwrap();
    for t in tables {
        let table: String = t.try_get("", "name").unwrap();
        let columns = lite
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("SELECT name FROM pragma_table_info('{table}')"),
            ))
            .await
            .unwrap();
        for c in columns {
            let column: String = c.try_get("", "name").unwrap();
            lite_cols.insert((table.clone(), column));
        }
    }
    let pg_cols: std::collections::BTreeSet<(String, String)> = pg
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
             WHERE table_schema = 'public'",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.try_get("", "t").unwrap(), r.try_get("", "c").unwrap()))
        .collect();
    assert!(
        lite_cols.len() > 100,
        "SQLite schema looks empty: {}",
        lite_cols.len()
    );
    let only_lite: Vec<_> = lite_cols.difference(&pg_cols).collect();
    let only_pg: Vec<_> = pg_cols.difference(&lite_cols).collect();
    assert!(
        only_lite.is_empty() && only_pg.is_empty(),
        "only SQLite: {only_lite:?}; only PostgreSQL: {only_pg:?}"
    );
    lite.close().await.unwrap();
    pg.close().await.unwrap();
    sqlite.finish().await;
    postgres.finish().await;
}

/// The one-trip booking path is bound to one tenant: it refuses a service
/// or a booking of another tenant, and on PostgreSQL the booking function
/// runs only for the tenant its caller set for the transaction (never for
/// one it is merely told about), so row-level security applies to it.
#[tokio::test]
async fn p1_the_booking_path_refuses_another_tenant() {
    for engine in engines().await {
        let db = TestDb::new(engine).await;
        let a = desk(&db.store, 1, 0, 0).await;
        let b = desk(&db.store, 1, 0, 0).await;
        // A's booking with B's service.
        let err = db
            .store
            .booker(a.tenant)
            .book(&booking(&a, 0, 60, 1), &b.service, None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, bookwarden_persistence::StoreError::WrongTenant),
            "{engine:?}: {err:?}"
        );
        // A's booking through B's path, with A's own service.
        let err = db
            .store
            .booker(b.tenant)
            .book(&booking(&a, 0, 60, 1), &a.service, None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, bookwarden_persistence::StoreError::WrongTenant),
            "{engine:?}: {err:?}"
        );
        if engine == Engine::Postgres {
            let app = db.raw_app().await;
            let tx = app.begin().await.unwrap();
            tx.execute_unprepared(&format!(
                "SELECT set_config('app.tenant_id', '{}', true)",
                a.tenant
            ))
            .await
            .unwrap();
            let call = format!(
                "SELECT bookwarden_create_booking('{}', gen_random_uuid(), gen_random_uuid(), '{}', '{}', '{}',
                    0, 10, 0, 10, 1, 1, 'requested', '{{}}', 0, NULL, 0, NULL, NULL, NULL,
                    NULL, NULL, NULL, false, NULL)",
                b.tenant,
                b.service.id(),
                b.staff,
                b.customer
            );
            let err = tx.execute_unprepared(&call).await.unwrap_err();
            assert!(
                format!("{err:?}").contains("bookwarden_wrong_tenant"),
                "{err:?}"
            );
            tx.rollback().await.unwrap();
            // With no tenant set, the function does not take B's from its
            // argument: it refuses, and nothing of B's is written.
            let err = app.execute_unprepared(&call).await.unwrap_err();
            assert!(
                format!("{err:?}").contains("bookwarden_wrong_tenant"),
                "{err:?}"
            );
            app.close().await.unwrap();
        }
        db.finish().await;
    }
}

/// Placement names are plain identifiers and never a system schema.
#[test]
fn placement_names_are_plain_identifiers() {
    use bookwarden_persistence::PgPlacement;
    assert!(PgPlacement::new("bookwarden", "bookwarden_migrations").is_ok());
    for (schema, table) in [
        ("", "m"),
        ("Bookwarden", "m"),
        ("book-warden", "m"),
        ("pg_catalog", "m"),
        ("information_schema", "m"),
        ("bw", "m; DROP TABLE users"),
        ("1bw", "m"),
    ] {
        assert!(
            PgPlacement::new(schema, table).is_err(),
            "{schema:?} {table:?} must be refused"
        );
    }
    let default = PgPlacement::default();
    assert_eq!(
        (default.schema(), default.migrations_table()),
        ("public", "seaql_migrations")
    );
}

/// A database the store shares with other software: it migrates into a
/// schema of its own with a migration record of its own, grants the
/// application role its own tables only, and works there, while the other
/// software's `users` table and `seaql_migrations` record in `public` stay
/// as they were and out of the role's reach.
#[tokio::test]
async fn p1_a_store_in_its_own_schema_leaves_the_rest_of_the_database_alone() {
    use bookwarden_domain::tenant::Region;
    use bookwarden_persistence::{
        PgPlacement, RegionDatabase, Store, StoreConfig, TABLES, grant_app_role_in, migrate_in,
    };
    use sea_orm::Database;

    use crate::harness::{
        APP_ROLE, ensure_app_role, postgres_admin_url, random_name, staff_member, tenant, url_for,
    };

    if !engines().await.contains(&Engine::Postgres) {
        return;
    }
    let admin = postgres_admin_url();
    let name = random_name("bookwarden_shared");
    let server = Database::connect(&admin).await.unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    ensure_app_role(&server).await;
    let owner_url = url_for(&admin, "postgres", &name);
    let owner = Database::connect(&owner_url).await.unwrap();
    // Another application's tables, with the generic names ours would take.
    owner
        .execute_unprepared(
            "CREATE TABLE public.users (id int PRIMARY KEY, secret text NOT NULL);
             INSERT INTO public.users VALUES (1, 'theirs');
             CREATE TABLE public.seaql_migrations (version varchar PRIMARY KEY, applied_at bigint NOT NULL);
             INSERT INTO public.seaql_migrations VALUES ('m20240101_their_schema', 0);",
        )
        .await
        .unwrap();

    let placement = PgPlacement::new("bookwarden", "bookwarden_migrations").unwrap();
    migrate_in(&owner_url, &placement).await.unwrap();
    // Running it again changes nothing.
    migrate_in(&owner_url, &placement).await.unwrap();
    grant_app_role_in(&owner_url, APP_ROLE, &placement)
        .await
        .unwrap();

    let local = Region::parse("local").unwrap();
    let store = Store::open(StoreConfig {
        regions: vec![RegionDatabase {
            region: local.clone(),
            url: url_for(&admin, APP_ROLE, &name),
        }],
        directory: local,
        max_connections: 2,
        placement: placement.clone(),
        key_store: None,
    })
    .await
    .unwrap();
    let t = tenant(&store).await.id();
    let scope = store.write(t).await.unwrap();
    scope.staff().insert(&staff_member(t, "Sam")).await.unwrap();
    scope.commit().await.unwrap();
    let scope = store.read(t).await.unwrap();
    assert_eq!(scope.staff().list().await.unwrap().len(), 1);
    scope.commit().await.unwrap();
    store.close().await.unwrap();

    let number = |sql: &'static str| {
        let owner = &owner;
        async move {
            let row = owner
                .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(
        number("SELECT count(*) FROM public.seaql_migrations").await,
        1,
        "the other application's migration record is untouched"
    );
    // One record per migration, and a migration is one file per dialect
    // (the key store's, `keys_*`, are recorded in the key store).
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|f| {
            let name = f
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .into_owned();
            name.ends_with(".sqlite.sql") && !name.starts_with("keys_")
        })
        .count();
    assert_eq!(
        number("SELECT count(*) FROM bookwarden.bookwarden_migrations").await,
        i64::try_from(migrations).unwrap()
    );
    assert_eq!(
        number("SELECT count(*) FROM public.users WHERE secret = 'theirs'").await,
        1
    );
    assert_eq!(
        number(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' \
             AND tablename NOT IN ('users', 'seaql_migrations')"
        )
        .await,
        0,
        "nothing of ours in public"
    );
    let ours = owner
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'bookwarden' \
             AND tablename <> 'bookwarden_migrations' ORDER BY 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>();
    let mut expected: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    expected.sort();
    assert_eq!(ours, expected, "TABLES lists exactly the tables migrated");
    let privilege = |table: &str, what: &str| {
        format!("SELECT has_table_privilege('{APP_ROLE}', '{table}', '{what}')::int::bigint")
    };
    for (table, what, allowed) in [
        ("public.users", "SELECT", 0),
        ("public.seaql_migrations", "SELECT", 0),
        ("bookwarden.bookwarden_migrations", "SELECT", 0),
        ("bookwarden.bookings", "INSERT", 1),
        ("bookwarden.audit_log", "UPDATE", 0),
    ] {
        let sql = privilege(table, what);
        let row = owner
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.try_get_by_index::<i64>(0).unwrap(),
            allowed,
            "{what} on {table}"
        );
    }
    owner.close().await.unwrap();
    server
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    server.close().await.unwrap();
}

/// `--app-role public` would grant the tables to every role in the
/// database: names PostgreSQL reserves are refused before any connection.
#[tokio::test]
async fn p1_the_application_role_cannot_be_a_reserved_name() {
    use bookwarden_persistence::{StoreError, grant_app_role};
    for role in [
        "public",
        "pg_read_all_data",
        "current_user",
        "session_user",
        "none",
        "Bookwarden_app",
        "app; DROP TABLE users",
    ] {
        let refused = grant_app_role("postgres://nobody@127.0.0.1:1/none", role).await;
        assert!(
            matches!(refused, Err(StoreError::Config(_))),
            "{role:?}: {refused:?}"
        );
    }
}
