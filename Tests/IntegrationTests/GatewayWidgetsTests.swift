import Foundation
import Testing

/// The widgets product's curl examples (docs/requirements.md), verbatim, through the gateway.
@Suite(.serialized)
struct GatewayWidgetsTests {
    @Test func addWidgetThenDuplicateIs409() throws {
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"api\""])   // the widgets service's own setting
        try gateway.waitUntilReady()
        let headers = [("Content-Type", "application/json")]
        let serial = "gw-\(UUID().uuidString)"
        let first = try gateway.send("POST", "/rpc/add_widget", body: #"{ "widget_sn": "\#(serial)", "widget_name": "A", "slots":["P","R","R"]}"#, headers: headers)
        #expect(first.status == 204)
        #expect(first.body.isEmpty)
        // The product's duplicate example, verbatim: whether or not E existed before, the second call conflicts.
        let example = #"{ "widget_sn": "E", "widget_name": "A", "slots":["P","R","R"]}"#
        _ = try gateway.send("POST", "/rpc/add_widget", body: example, headers: headers)
        let duplicate = try gateway.send("POST", "/rpc/add_widget", body: example, headers: headers)
        #expect(duplicate.status == 409)
        let expected = try JSONSerialization.jsonObject(with: Data(#"""
            {"code":"23505","details":"Key (serial_number)=(E) already exists.","hint":null,"message":"duplicate key value violates unique constraint \"widgets_serial_number_key\""}
            """#.utf8)) as? NSObject
        #expect(duplicate.json == expected)
        #expect(duplicate.header("Content-Type") == "application/json; charset=utf-8")
    }
}
