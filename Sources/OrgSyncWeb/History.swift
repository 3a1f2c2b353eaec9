import Foundation
import Hummingbird
import OrgSyncAPI
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC

/// A record's history (who changed which fields when, from the server's audit log, plus this
/// PC's edits not yet sent) and what the office can do with a refused edit: send it again as
/// typed, correct it first, or drop it.
extension WebApp {
  static let actions = [
    "create": "新建", "update": "修改", "delete": "删除", "move": "转移", "review": "审阅", "conflict": "冲突",
  ]

  func history(_ context: BasicRequestContext) async throws -> Response {
    guard let record = try await record(context) else { return notFound }
    let id = record.id
    let (pending, units) = try await replica.blocking { (try $0.pendingEdits(recordID: id), try $0.units()) }
    let type = record.type
    let labels = { (fields: [String]) in fields.map { Labels.field($0, of: type) }.joined(separator: "、") }
    var entries: [[String: Any]] = []
    var note: String?
    do {
      guard let client = try makeClient() else { throw RPCError(code: .unavailable, message: "no server") }
      defer { Task { await client.close() } }
      var request = Orgsync_V1_HistoryRequest()
      request.recordID = Data(id)
      let response = try await client.unary(SyncAPI.history, request, options: CallOptions(timeout: .seconds(60)))
      entries = response.entries.map { entry in
        let unit = units[Array(entry.unitID)]?.name ?? ""
        return [
          "at": localTime(entry.atMillis),
          "who": [unit, entry.deviceName].filter { !$0.isEmpty }.joined(separator: " · "),
          "action": Self.actions[entry.action] ?? entry.action, "fields": labels(entry.fields),
        ]
      }
    } catch let error as RPCError where error.code == .unavailable || error.code == .deadlineExceeded {
      note = "现在连不上服务器：联网后可以看到完整的修改记录。"
    } catch {
      note = "没有取到服务器上的修改记录（\(error)）。"
    }
    for edit in pending {
      entries.append([
        "at": localTime(Int64(edit.hlc >> 16)), "who": "本机（待上传）",
        "action": edit.delete ? "删除" : edit.baseVersion == 0 ? "新建" : "修改",
        "fields": labels(edit.fields.isEmpty ? Array(RecordForm.values(of: edit.body).keys).sorted() : edit.fields),
      ])
    }
    var page: [String: Any] = [
      "id": RecordID.string(id), "label": Labels.type(type), "title": RecordForm.title(of: record.body),
      "entries": entries,
    ]
    if let note { page["note"] = note }
    return try await html("history", page, title: "修改记录")
  }

  // MARK: Refused edits

  func rejectedItem(_ context: BasicRequestContext) async throws -> Replica.RejectedMutation? {
    guard let id = context.parameters.get("id").flatMap(RecordID.parse) else { return nil }
    return try await replica.blocking { try $0.rejected().first { $0.mutationID == id } }
  }

  /// The refused edit's typed values in its type's form, to correct and send again.
  func rejectedForm(_ context: BasicRequestContext) async throws -> Response {
    guard let item = try await rejectedItem(context) else { return notFound }
    let reason = RecordForm.chinese(item.reason, field: item.field, type: item.type)
    return try await formPage(
      type: item.type, heading: "改正后重新提交：" + Labels.type(item.type),
      values: RecordForm.values(of: item.mutation.body), errors: item.field.isEmpty ? [:] : [item.field: reason],
      general: ["服务器退回的原因：" + reason])
  }

  func retryRejected(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    guard let item = try await rejectedItem(context) else { return notFound }
    guard let posted = try await checked(request) else { return forbidden }
    let type = item.type
    let heading = "改正后重新提交：" + Labels.type(type)
    let form = try await RecordForm.make(type: type, replica: replica)
    let values = form.known(posted)
    let errors = form.fieldErrors(values)
    guard errors.isEmpty else {
      return try await formPage(type: type, heading: heading, values: values, errors: errors, general: [])
    }
    let before = RecordForm.values(of: item.mutation.body)
    // A post with no fields (the "send again as typed" button) changes nothing typed.
    let changed =
      values.isEmpty ? [] : form.input.fields.map(\.name).filter { (values[$0] ?? "") != (before[$0] ?? "") }
    do {
      let body = try form.input.body(Dictionary(uniqueKeysWithValues: changed.map { ($0, values[$0] ?? "") }))
      let id = item.mutationID
      _ = try await replica.blocking {
        try $0.retryRejected(id, changes: changed.isEmpty ? nil : body, fields: changed)
      }
    } catch let error as InputError {
      return try await formPage(
        type: type, heading: heading, values: values, errors: [:],
        general: ["内容无法保存（\(error.message)）；录入的内容仍在下面。"])
    } catch let rejection as Rejection {
      let message = RecordForm.chinese(rejection.reason, field: rejection.field, type: type)
      return try await formPage(
        type: type, heading: heading, values: values,
        errors: rejection.field.isEmpty ? [:] : [rejection.field: message], general: [message + "；没有保存。"])
    } catch let error as ReplicaError {
      return redirect("/rejected", message: "没有重新提交：\(error.message)")
    }
    return redirect("/rejected", message: "已重新放入待上传，下次同步时提交。")
  }

  func discardRejected(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    guard let item = try await rejectedItem(context) else { return notFound }
    guard try await checked(request) != nil else { return forbidden }
    let id = item.mutationID
    try await replica.blocking { try $0.discardRejected(id) }
    return redirect("/rejected", message: "已放弃这条被退回的修改。")
  }
}
