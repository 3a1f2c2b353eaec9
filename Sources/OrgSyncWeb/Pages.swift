import Foundation
import Hummingbird
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC

extension WebApp {
  static let pageSize = 50

  func routes(_ router: Router<BasicRequestContext>) {
    router.get("/") { request, _ in try await home(flash: request.uri.queryParameters.get("msg")) }
    router.post("/sync") { request, _ in try await startSync(request) }
    router.get("/sync") { _, _ in try await syncProgress() }
    router.get("/records/:type") { request, context in try await list(request, context) }
    router.get("/records/:type/new") { _, context in try await newForm(context) }
    router.post("/records/:type/new") { request, context in try await create(request, context) }
    router.get("/record/:id") { request, context in
      try await show(context, flash: request.uri.queryParameters.get("msg"))
    }
    router.get("/record/:id/edit") { _, context in try await editForm(context) }
    router.post("/record/:id/edit") { request, context in try await saveEdit(request, context) }
    router.get("/conflicts") { request, _ in try await conflicts(flash: request.uri.queryParameters.get("msg")) }
    router.post("/conflicts/:id") { request, context in try await resolve(request, context) }
    router.get("/rejected") { request, _ in try await rejected(flash: request.uri.queryParameters.get("msg")) }
    router.get("/rejected/:id/edit") { _, context in try await rejectedForm(context) }
    router.post("/rejected/:id/edit") { request, context in try await retryRejected(request, context) }
    router.post("/rejected/:id/retry") { request, context in try await retryRejected(request, context) }
    router.post("/rejected/:id/discard") { request, context in try await discardRejected(request, context) }
    router.get("/record/:id/history") { _, context in try await history(context) }
    router.get("/dashboard") { request, _ in try await dashboard(request) }
    router.get("/dashboard.xlsx") { request, _ in try await dashboardSheet(request) }
    router.get("/stats") { request, _ in try await statistics(request) }
    router.get("/app.js") { _, _ in
      Response(
        status: .ok,
        headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-store"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: Templates.script)))
    }
    router.get("/stats.xlsx") { request, _ in try await statisticsSheet(request) }
  }

  func home(flash: String?) async throws -> Response {
    let (status, counts) = try await replica.blocking { (try $0.status(), try $0.countsByType()) }
    let types = Self.navTypes(for: identity.role).map {
      ["type": RecordPresentation.word(for: $0), "label": Labels.type($0), "count": counts[$0] ?? 0] as [String: Any]
    }
    return try await html(
      "home",
      [
        "unitName": identity.unitName, "lastSync": localTime(status.lastSync), "queued": status.outbox,
        "openConflicts": status.openConflicts, "refused": status.rejected, "types": types,
      ], title: "首页", flash: flash)
  }

  /// What a list is narrowed to: text anywhere in its columns, a unit (with its subtree), a
  /// status, and a date range on the type's own date.
  struct ListFilter {
    var text = ""
    var unit: [UInt8]?
    var status = ""
    var from = ""
    var to = ""

    init(_ request: Request) {
      let query = request.uri.queryParameters
      text = (query.get("q") ?? "").trimmingCharacters(in: .whitespaces)
      unit = query.get("unit").flatMap(RecordID.parse)
      status = query.get("status") ?? ""
      from = query.get("from") ?? ""
      to = query.get("to") ?? ""
    }

    /// Only the page needs reading when nothing but the unit narrows the list.
    var needsScan: Bool { !text.isEmpty || !status.isEmpty || !from.isEmpty || !to.isEmpty }

    var query: String {
      var items = [("q", text), ("status", status), ("from", from), ("to", to)]
      if let unit { items.append(("unit", RecordID.string(unit))) }
      var components = URLComponents()
      components.queryItems = items.filter { !$0.1.isEmpty }.map { URLQueryItem(name: $0.0, value: $0.1) }
      return components.percentEncodedQuery ?? ""
    }
  }

  /// The date a type's list is filtered on: its first date column (a meeting's date, a problem's
  /// day found); nil for types without one.
  static func dateField(_ type: Orgsync_V1_RecordType) -> String? {
    guard let messageType = RecordKinds.messageType(of: type) else { return nil }
    let types = ProtoFields.types[messageType.protoMessageName] ?? [:]
    return RecordPresentation.summaryFields(type).first { types[$0] == "Date" }
  }

  static func statusEnum(_ type: Orgsync_V1_RecordType) -> String? {
    guard let messageType = RecordKinds.messageType(of: type) else { return nil }
    return ProtoFields.types[messageType.protoMessageName]?["status"]
  }

  func list(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    guard let type = Self.type(context) else { return notFound }
    let filter = ListFilter(request)
    // A page number from the address bar: anything odd is page 1; a huge one is past the end.
    let page = min(1_000_000, max(1, request.uri.queryParameters.get("page").flatMap { Int($0) } ?? 1))
    let columns = RecordPresentation.summaryFields(type)
    let dateField = Self.dateField(type)
    let unitID = identity.unitID
    // Only what the list shows or filters on is read from each record.
    let wanted = Set(columns + ["status"] + (dateField.map { [$0] } ?? []))
    let (rows, total, unitChoices) = try await replica.blocking { replica in
      let units = try replica.units()
      let namer: ([UInt8]) -> String? = { units[$0]?.name }
      let subtree = filter.unit.map { Self.subtree(of: $0, in: units) }
      func row(_ record: Replica.LocalRecord) -> (Row, [String: String]) {
        let shown = Dictionary(
          RecordPresentation.fields(of: record.body, unitName: namer, only: wanted).map { ($0.name, $0.value) },
          uniquingKeysWith: { a, _ in a })
        let cells = columns.map { column in Self.display(shown[column] ?? "", field: column, type: type) }
        return (Row(id: record.id, cells: cells, pending: record.pending), shown)
      }
      let choices = Self.subtree(of: unitID, in: units).compactMap { id in units[id].map { (id, $0) } }
        .sorted { $0.1.code < $1.1.code }.map { ($0.0, $0.1.name) }
      guard filter.needsScan else {
        let found = try replica.recordsPage(
          type: type, units: subtree, limit: Self.pageSize, offset: (page - 1) * Self.pageSize)
        return (found.records.map { row($0).0 }, found.total, choices)
      }
      // Text, status and dates live inside the sealed bodies: every record of the type is read.
      var matching: [Row] = []
      let allowed = subtree.map(Set.init)
      for record in try replica.records(type: type).reversed() {
        if let allowed, !allowed.contains(record.unitID) { continue }
        let (shownRow, shown) = row(record)
        if !filter.status.isEmpty, shown["status"] != filter.status { continue }
        if let dateField, !filter.from.isEmpty || !filter.to.isEmpty {
          let date = shown[dateField] ?? ""
          if date.isEmpty || (!filter.from.isEmpty && date < filter.from) || (!filter.to.isEmpty && date > filter.to) {
            continue
          }
        }
        if !filter.text.isEmpty, !shownRow.cells.contains(where: { $0.contains(filter.text) }) { continue }
        matching.append(shownRow)
      }
      let start = (page - 1) * Self.pageSize
      return (Array(matching.dropFirst(start).prefix(Self.pageSize)), matching.count, choices)
    }
    let shown = rows.map {
      ["id": RecordID.string($0.id), "cells": $0.cells, "sync": $0.pending ? "待上传" : "已同步"] as [String: Any]
    }
    let pageCount = (total + Self.pageSize - 1) / Self.pageSize
    // Pages near this one, the first and the last: a 400-page list is not 400 links.
    let pages =
      pageCount > 1
      ? Set([1, pageCount] + Array(min(pageCount, max(1, page - 3))...min(pageCount, page + 3))).sorted().map {
        ["number": $0, "current": $0 == page] as [String: Any]
      } : []
    var object: [String: Any] = [
      "type": RecordPresentation.word(for: type), "label": Labels.type(type), "q": filter.text, "total": total,
      "columns": columns.map { Labels.field($0, of: type) }, "rows": shown, "pages": pages,
      "canAdd": type != .orgUnit, "query": filter.query, "from": filter.from, "to": filter.to,
    ]
    if filter.needsScan || filter.unit != nil { object["filtered"] = true }
    if let statusEnum = Self.statusEnum(type) {
      object["hasStatuses"] = true
      object["statuses"] = FieldInput.choices(ofEnum: statusEnum).map {
        ["value": $0, "label": Labels.choice($0, enum: statusEnum), "selected": $0 == filter.status] as [String: Any]
      }
    }
    if dateField != nil { object["hasDates"] = true }
    if unitChoices.count > 1 {
      object["hasUnits"] = true
      object["units"] = unitChoices.map { id, name in
        ["value": RecordID.string(id), "label": name, "selected": id == filter.unit] as [String: Any]
      }
    }
    return try await html(
      "list", object, title: Labels.type(type), flash: request.uri.queryParameters.get("msg"))
  }

  /// A unit and every unit below it, from the units this copy holds.
  static func subtree(of root: [UInt8], in units: [[UInt8]: Orgsync_V1_OrgUnit]) -> [[UInt8]] {
    var children: [[UInt8]: [[UInt8]]] = [:]
    for (id, unit) in units { children[Array(unit.parentID), default: []].append(id) }
    var found = [root]
    var index = 0
    while index < found.count {
      found += children[found[index]] ?? []
      index += 1
    }
    return found
  }

  func newForm(_ context: BasicRequestContext) async throws -> Response {
    guard let type = Self.type(context) else { return notFound }
    return try await formPage(type: type, heading: "新增" + Labels.type(type), values: [:], errors: [:], general: [])
  }

  func create(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    guard let type = Self.type(context) else { return notFound }
    guard let posted = try await checked(request) else { return forbidden }
    let form = try await RecordForm.make(type: type, replica: replica)
    let values = form.known(posted)
    let errors = form.fieldErrors(values)
    guard errors.isEmpty else {
      return try await formPage(
        type: type, heading: "新增" + Labels.type(type), values: values, errors: errors,
        general: ["有 \(errors.count) 项需要改正（见下方红字），其余内容已保留。"])
    }
    let unit = identity.unitID
    do {
      let body = try form.input.body(values.filter { !$0.value.isEmpty })
      _ = try await replica.blocking { try $0.create(body, unitID: unit) }
    } catch let error as InputError {
      return try await formPage(
        type: type, heading: "新增" + Labels.type(type), values: values, errors: [:],
        general: ["内容无法保存（\(error.message)）；录入的内容仍在下面。"])
    } catch let rejection as Rejection {
      let message = RecordForm.chinese(rejection.reason, field: rejection.field, type: type)
      return try await formPage(
        type: type, heading: "新增" + Labels.type(type), values: values,
        errors: rejection.field.isEmpty ? [:] : [rejection.field: message], general: [message + "；没有保存，录入的内容仍在下面。"])
    }
    return redirect("/records/\(RecordPresentation.word(for: type))", message: "已保存\(Labels.type(type))，下次同步时上传。")
  }

  func show(_ context: BasicRequestContext, flash: String?) async throws -> Response {
    guard let record = try await record(context) else { return notFound }
    let units = try await replica.blocking { try $0.units() }
    let fields = RecordPresentation.fields(of: record.body) { units[$0]?.name }.map {
      [
        "label": Labels.field($0.name, of: record.type),
        "value": Self.display($0.value, field: $0.name, type: record.type),
      ]
    }
    return try await html(
      "record",
      [
        "id": RecordID.string(record.id), "label": Labels.type(record.type), "title": RecordForm.title(of: record.body),
        "fields": fields, "sync": record.pending ? "有修改待上传" : "已与服务器一致",
      ], title: RecordForm.title(of: record.body), flash: flash)
  }

  func editForm(_ context: BasicRequestContext) async throws -> Response {
    guard let record = try await record(context) else { return notFound }
    return try await formPage(
      type: record.type, heading: "修改" + Labels.type(record.type), values: RecordForm.values(of: record.body),
      errors: [:], general: [], unit: record.unitID)
  }

  func saveEdit(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    guard let record = try await record(context) else { return notFound }
    guard let posted = try await checked(request) else { return forbidden }
    let type = record.type
    let form = try await RecordForm.make(type: type, replica: replica)
    let values = form.known(posted)
    let heading = "修改" + Labels.type(type)
    let errors = form.fieldErrors(values)
    guard errors.isEmpty else {
      return try await formPage(
        type: type, heading: heading, values: values, errors: errors, general: [], unit: record.unitID)
    }
    let before = RecordForm.values(of: record.body)
    let changed = form.input.fields.map(\.name).filter { (values[$0] ?? "") != (before[$0] ?? "") }
    guard !changed.isEmpty else { return redirect("/record/\(RecordID.string(record.id))", message: "没有改动。") }
    do {
      let body = try form.input.body(
        Dictionary(uniqueKeysWithValues: changed.map { ($0, values[$0] ?? "") }), onto: record.body)
      let id = record.id
      _ = try await replica.blocking { try $0.update(id, fields: changed, from: body) }
    } catch let error as InputError {
      return try await formPage(
        type: type, heading: heading, values: values, errors: [:],
        general: ["内容无法保存（\(error.message)）；录入的内容仍在下面。"], unit: record.unitID)
    } catch let rejection as Rejection {
      let message = RecordForm.chinese(rejection.reason, field: rejection.field, type: type)
      return try await formPage(
        type: type, heading: heading, values: values,
        errors: rejection.field.isEmpty ? [:] : [rejection.field: message],
        general: [message + "；没有保存。"], unit: record.unitID)
    }
    return redirect("/record/\(RecordID.string(record.id))", message: "已保存修改，下次同步时上传。")
  }

  func formPage(
    type: Orgsync_V1_RecordType, heading: String, values: [String: String], errors: [String: String],
    general: [String], unit: [UInt8]? = nil
  ) async throws -> Response {
    let form = try await RecordForm.make(type: type, replica: replica, unit: unit ?? identity.unitID)
    return try await html(
      "form", ["heading": heading, "fields": form.fields(values: values, errors: errors), "errors": general],
      title: heading)
  }

  // MARK: Conflicts and refused edits

  func conflicts(flash: String?) async throws -> Response {
    // A conflict carries only the fields in dispute: the record's name comes from this copy.
    let (open, titles, sides, settled) = try await replica.blocking { replica in
      let open = try replica.conflicts()
      let titles = try open.map {
        try replica.record(id: Array($0.recordID)).map { RecordForm.title(of: $0.body) } ?? ""
      }
      return (open, titles, try open.map { try replica.side(of: $0) }, try replica.conflictsSettledHere())
    }
    var forms: [Orgsync_V1_RecordType: RecordForm] = [:]
    for type in Set(open.map(\.type)) { forms[type] = try await RecordForm.make(type: type, replica: replica) }
    let items: [[String: Any]] = zip(open, zip(titles, sides)).map { conflict, titleAndSide in
      let (title, side) = titleAndSide
      let type = conflict.type
      let kept = RecordForm.values(of: conflict.winner)
      let lost = RecordForm.values(of: conflict.loser)
      let suffix = "-" + RecordID.string(Array(conflict.id))
      // A third value for the disputed fields, starting from the one kept now.
      let inputs = (forms[type]?.fields(values: kept, errors: [:]) ?? [])
        .filter { conflict.fields.contains($0["name"] as? String ?? "") }
        .map { $0.merging(["suffix": suffix]) { a, _ in a } }
      if settled.contains(Array(conflict.id)) {
        return [
          "id": RecordID.string(Array(conflict.id)), "label": Labels.type(type), "title": title, "settled": true,
        ]
      }
      // In the words of the person at this PC: what was typed here, what was typed on the other
      // PC, and which of the two is kept now. The buttons name the value, never a side.
      let mine = side == .typedHereKept ? kept : lost
      let theirs = side == .typedHereKept ? lost : kept
      let show = { (values: [String: String], field: String) in
        Self.display(values[field] ?? "", field: field, type: type)
      }
      return [
        "open": true, "editable": !inputs.isEmpty && (conflict.kind == .fields || conflict.kind == .unspecified),
        "inputs": inputs, "ours": side != .elsewhere, "elsewhere": side == .elsewhere,
        "keptHere": side == .typedHereKept,
        "id": RecordID.string(Array(conflict.id)), "label": Labels.type(type),
        "title": title,
        "fields": conflict.fields.map {
          [
            "label": Labels.field($0, of: type), "mine": show(mine, $0), "theirs": show(theirs, $0),
            "kept": show(kept, $0), "lost": show(lost, $0),
          ]
        },
      ]
    }
    return try await html("conflicts", ["items": items], title: "冲突", flash: flash)
  }

  func resolve(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    guard let values = try await checked(request) else { return forbidden }
    guard let id = context.parameters.get("id").flatMap(RecordID.parse) else { return notFound }
    let resolution: Replica.Resolution
    switch values["keep"] {
    case "mine": resolution = .keepMine
    case "theirs": resolution = .keepTheirs
    case "lost": resolution = .keepLost
    case "edit":
      let found = try await replica.blocking { replica in
        try replica.conflicts().first { Array($0.id) == id }.map { conflict in
          (conflict, try replica.record(id: Array(conflict.recordID)))
        }
      }
      guard let (conflict, record) = found, let record else { return notFound }
      let form = try await RecordForm.make(type: conflict.type, replica: replica)
      let typed = form.known(values).filter { conflict.fields.contains($0.key) }
      guard form.fieldErrors(typed).isEmpty,
        let body = try? form.input.body(typed.filter { !$0.value.isEmpty }, onto: record.body)
      else { return redirect("/conflicts", message: "填写的值无法保存，请检查后重新填写。冲突仍未处理。") }
      resolution = .edit(body)
    default: resolution = .keepKept
    }
    do {
      _ = try await replica.blocking { try $0.resolve(conflictID: id, resolution) }
    } catch let error as ReplicaError {
      let gone = error.message.hasPrefix("there is no open conflict")
      return redirect(
        "/conflicts",
        message: gone
          ? "这个冲突已经处理过了，或者已不存在。"
          : "没有处理：本机现在没有这条记录，或者无法这样处理（\(error.message)）。冲突仍未处理。")
    } catch let rejection as Rejection {
      return redirect(
        "/conflicts",
        message: RecordForm.chinese(rejection.reason, field: rejection.field, type: .unspecified) + "；冲突仍未处理。")
    }
    return redirect("/conflicts", message: "已处理，下次同步时告知服务器。")
  }

  func rejected(flash: String?) async throws -> Response {
    let refused = try await replica.blocking { try $0.rejected() }
    let items: [[String: Any]] = refused.map { item in
      let values = RecordForm.values(of: item.mutation.body)
      return [
        "id": RecordID.string(item.mutationID), "at": localTime(item.at), "deleted": item.mutation.delete,
        "label": Labels.type(item.type), "reason": RecordForm.chinese(item.reason, field: item.field, type: item.type),
        "fields": values.keys.sorted().map {
          [
            "label": Labels.field($0, of: item.type),
            "value": Self.display(values[$0] ?? "", field: $0, type: item.type),
          ]
        },
      ]
    }
    return try await html("rejected", ["items": items], title: "被退回的修改", flash: flash)
  }

  // MARK: Small helpers

  struct Row: Sendable {
    var id: [UInt8]
    var cells: [String]
    var pending: Bool
  }

  /// A value as shown: closed sets and yes/no in Chinese, ids by name where known.
  static func display(_ value: String, field: String, type: Orgsync_V1_RecordType) -> String {
    guard let messageType = RecordKinds.messageType(of: type),
      let fieldType = ProtoFields.types[messageType.protoMessageName]?[field]
    else { return value }
    switch fieldType {
    case "bool": return value == "yes" ? "是" : value == "no" ? "否" : value
    case "string", "Date", "bytes", "repeated bytes", "int32", "int64", "uint32", "uint64", "double": return value
    default: return value.isEmpty ? "" : Labels.choice(value, enum: fieldType)
    }
  }

  static func type(_ context: BasicRequestContext) -> Orgsync_V1_RecordType? {
    context.parameters.get("type").flatMap { RecordPresentation.typeNames[$0] }
  }

  func record(_ context: BasicRequestContext) async throws -> Replica.LocalRecord? {
    guard let id = context.parameters.get("id").flatMap(RecordID.parse) else { return nil }
    return try await replica.blocking { try $0.record(id: id) }
  }

  /// The form's fields if its CSRF token is right (nil: refuse it).
  func checked(_ request: Request) async throws -> [String: String]? {
    var values = try await Self.form(request)
    guard let token = values.removeValue(forKey: "csrf"), LocalGuard.same(token, csrf) else { return nil }
    return values
  }

  func redirect(_ path: String, message: String) -> Response {
    var components = URLComponents()
    components.path = path
    components.queryItems = [URLQueryItem(name: "msg", value: message)]
    return Response.redirect(to: components.string ?? path, type: .normal)
  }

  var forbidden: Response { Self.response("表单已过期，请返回后重新提交。", status: .forbidden) }
  var notFound: Response { Self.response("没有这一页。", status: .notFound) }
}
