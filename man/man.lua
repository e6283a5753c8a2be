-- Pandoc filter for the man pages.
-- Links to other documentation pages (docs/x.md) mean nothing in man(1): keep
-- their text only.
function Link(link)
  if link.target:match("%.md$") or link.target:match("%.md#") then
    return link.content
  end
end

-- "a\|b" in a code span of a table cell is Markdown's escaped bar: show "a|b".
function Code(code)
  code.text = code.text:gsub("\\|", "|")
  return code
end

-- Two-column tables (option, meaning) become tagged paragraphs (.TP), as man
-- pages list options; tbl would squeeze them into narrow columns.
function Table(tbl)
  local simple = pandoc.utils.to_simple_table(tbl)
  if #simple.headers ~= 2 then
    return nil
  end
  local items = {}
  for _, row in ipairs(simple.rows) do
    local term = pandoc.utils.blocks_to_inlines(row[1])
    table.insert(items, {term, {row[2]}})
  end
  return pandoc.DefinitionList(items)
end
