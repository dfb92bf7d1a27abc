import Foundation
import NextBestCore

/// Imports a propensity model file under an id; a model already stored under that id is replaced and
/// its version incremented. The model's features must all be profile columns of the store.
public enum ModelImporter {
    public static func run(file: String, id: String, format: ModelFormat, store: Store) throws -> (ImportReport, PropensityModel) {
        guard !id.isEmpty, id.utf8.count < 256 else { throw ImportError(file: file, line: nil, key: "--id", reason: "model id must be 1 to 255 bytes") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file)) }
        catch { throw ImportError(file: file, line: nil, reason: "cannot read file: \((error as NSError).localizedDescription)") }
        let kind: PropensityModel.Kind
        do { kind = try format.parse(data) } catch { throw ImportError(file: file, line: nil, reason: "not a valid \(format.rawValue) model: \(error)") }
        return try store.env.write { txn in
            guard let schema = try store.schema(in: txn) else {
                throw ImportError(file: file, line: nil, reason: "the store has no profiles yet; import profiles first so model features can be matched to columns")
            }
            let previous = try store.model(id, in: txn)
            let model = PropensityModel(id: id, version: (previous?.version ?? 0) + 1, kind: kind)
            if let missing = model.missingFeatures(in: schema).first {
                throw ImportError(file: file, line: nil, key: "feature \(Quoted.text(missing))",
                                  reason: "model uses column \(Quoted.text(missing)), which the store's profiles lack (store columns: \(schema.names.prefix(8).joined(separator: ", "))\(schema.count > 8 ? ", …" : ""))")
            }
            try store.putModel(model, in: txn)
            return (ImportReport(kind: "model '\(id)' v\(model.version)", rows: 1, added: previous == nil ? 1 : 0, replaced: previous == nil ? 0 : 1, skipped: 0), model)
        }
    }
}
