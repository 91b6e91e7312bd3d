//! Reading a `tiny_http` request as a webhook receiver needs it: its headers as name/value
//! pairs (a `HeaderLookup`) and its raw body. Shared by the examples and the loopback tests.

/// The request's headers and raw body (a body read error leaves what was read).
pub fn read(request: &mut tiny_http::Request) -> (Vec<(String, String)>, Vec<u8>) {
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    let headers = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_owned(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    (headers, body)
}
