// The chapter's prompt: `replSet0:PRIMARY>` / `replSet0:SECONDARY>` (mongosh's
// own form is `replSet0 [direct: primary] test>`).
prompt = function () {
  const h = db.hello();
  const s = h.isWritablePrimary ? "PRIMARY" : h.secondary ? "SECONDARY" : "OTHER";
  return h.setName ? `${h.setName}:${s}> ` : "> ";
};
