// `sqlx::migrate!` embeds the migrations at compile time, but stable Rust cannot tell cargo to
// watch those files: without this, a new migration is left out until the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
