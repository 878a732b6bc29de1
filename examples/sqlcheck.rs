use polars::prelude::*;
use polars::sql::SQLContext;
fn main() {
    let lake = std::env::args().nth(1).unwrap();
    let sql = std::io::read_to_string(std::io::stdin()).unwrap();
    let mut a = ScanArgsParquet::default();
    a.hive_options = HiveOptions::new_enabled();
    a.hive_options.try_parse_dates = false;
    let p = LazyFrame::scan_parquet(
        PlRefPath::new(format!("{lake}/pulls/**/*.parquet").as_str()),
        a,
    )
    .unwrap();
    let i = LazyFrame::scan_parquet(
        PlRefPath::new(format!("{lake}/inventory/**/*.parquet").as_str()),
        ScanArgsParquet::default(),
    )
    .unwrap();
    let mut ctx = SQLContext::new();
    ctx.register("pulls", p);
    ctx.register("inventory", i);
    match ctx.execute(&sql).and_then(|lf| lf.collect()) {
        Ok(df) => println!("{df}"),
        Err(e) => println!("ERR {e}"),
    }
}
