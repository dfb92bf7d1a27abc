import Foundation
import Testing
import NextBestWire

/// CURVE key files (issue 21, items 13 and 18): the secret is 0600 from its creation and never silently
/// replaced; setups that cannot work or leak a secret are refused before anything starts.
@Suite struct CurveKeyFileTests {
    func mode(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1 }

    func expectFailure(_ parts: [String], _ body: () throws -> Void) {
        do { try body(); Issue.record("expected a refusal containing \(parts)") } catch {
            for p in parts { #expect("\(error)".contains(p), "'\(error)' lacks '\(p)'") }
        }
    }

    // item 13
    @Test func generateCreatesTheSecret0600AndRefusesToOverwrite() throws {
        let dir = ClusterFixtures.tempDir("keys")
        let pub = try CurveKeyFiles.generate(dir: dir, name: "w")
        #expect(mode(dir + "/w.secret") == 0o600)
        #expect(try CurveKeyFiles.read(dir + "/w.pub") == pub)
        let secret = try String(contentsOfFile: dir + "/w.secret", encoding: .utf8)
        expectFailure(["w.secret exists", "--force"]) { try CurveKeyFiles.generate(dir: dir, name: "w") }
        #expect(try String(contentsOfFile: dir + "/w.secret", encoding: .utf8) == secret, "the refused generate changed the secret")
        // Only the public half left: still refused (the pair would not match any more).
        try FileManager.default.removeItem(atPath: dir + "/w.secret")
        expectFailure(["w.pub exists"]) { try CurveKeyFiles.generate(dir: dir, name: "w") }
        let newPub = try CurveKeyFiles.generate(dir: dir, name: "w", force: true)
        #expect(newPub != pub && mode(dir + "/w.secret") == 0o600)
        #expect(CurveKeys.publicKey(ofSecret: try CurveKeyFiles.readSecret(dir + "/w.secret")) == newPub)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["w.pub", "w.secret"])
        expectFailure(["file name"]) { try CurveKeyFiles.generate(dir: dir, name: "../x") }
    }

    // item 18
    @Test func unusableSetupsAreRefused() throws {
        let dir = ClusterFixtures.tempDir("keys")
        try CurveKeyFiles.generate(dir: dir, name: "c")
        expectFailure(["c.pub", "public key file"]) { _ = try CurveKeyFiles.readSecret(dir + "/c.pub") }
        expectFailure(["c.secret", "secret key file"]) { _ = try CurveKeyFiles.readPublic(dir + "/c.secret") }
        // The public key copied into a .secret file.
        try FileManager.default.copyItem(atPath: dir + "/c.pub", toPath: dir + "/d.pub")
        try FileManager.default.copyItem(atPath: dir + "/c.pub", toPath: dir + "/d.secret")
        chmod(dir + "/d.secret", 0o600)
        expectFailure(["d.secret", "the public half"]) { _ = try CurveKeyFiles.readSecret(dir + "/d.secret") }
        chmod(dir + "/c.secret", 0o644)
        expectFailure(["c.secret is readable by others (mode 644)", "chmod 600"]) { _ = try CurveKeyFiles.readSecret(dir + "/c.secret") }
        chmod(dir + "/c.secret", 0o640)
        expectFailure(["mode 640"]) { _ = try CurveKeyFiles.readSecret(dir + "/c.secret") }
        chmod(dir + "/c.secret", 0o400)
        _ = try CurveKeyFiles.readSecret(dir + "/c.secret")
        let empty = ClusterFixtures.tempDir("allow")
        try "not a key".write(toFile: empty + "/README", atomically: true, encoding: .utf8)
        expectFailure(["holds no *.pub file", "no worker could ever join"]) { _ = try CurveKeyFiles.allowList(empty) }
        #expect(try CurveKeyFiles.allowList(dir + "/c.pub").count == 1)
    }
}
