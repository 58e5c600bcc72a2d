using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>DEL EXISTS EXPIRE PEXPIRE TTL PTTL PERSIST TYPE SCAN KEYS.</summary>
internal static class KeyCommands
{
    public static void Del(CommandContext c)
    {
        var deleted = 0;
        for (var i = 1; i < c.Args.Count; i++)
        {
            if (c.Find(i) is not null && c.Keys.Remove(c.Args[i]))
            {
                deleted++;
            }
        }

        RespWriter.Integer(c.Output, deleted);
    }

    public static void Exists(CommandContext c)
    {
        var found = 0;
        for (var i = 1; i < c.Args.Count; i++)
        {
            if (c.Find(i) is not null)
            {
                found++;
            }
        }

        RespWriter.Integer(c.Output, found);
    }

    /// <summary>EXPIRE/PEXPIRE key time [NX|XX|GT|LT]; <paramref name="unit"/> is 1000 for seconds, 1 for milliseconds.</summary>
    public static void Expire(CommandContext c, long unit)
    {
        bool nx = false, xx = false, gt = false, lt = false;
        for (var j = 3; j < c.Args.Count; j++)
        {
            if (c.Is(j, "NX"u8))
            {
                nx = true;
            }
            else if (c.Is(j, "XX"u8))
            {
                xx = true;
            }
            else if (c.Is(j, "GT"u8))
            {
                gt = true;
            }
            else if (c.Is(j, "LT"u8))
            {
                lt = true;
            }
            else
            {
                c.Error($"ERR Unsupported option {ServerCommands.Truncate(c.Args[j])}");
                return;
            }
        }

        if (nx && (xx || gt || lt))
        {
            c.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
            return;
        }

        if (gt && lt)
        {
            c.Error("ERR GT and LT options at the same time are not compatible");
            return;
        }

        if (!c.TryInteger(2, out var amount))
        {
            return;
        }

        if (amount > long.MaxValue / unit || amount < long.MinValue / unit || amount * unit > long.MaxValue - c.Now)
        {
            c.Error($"ERR invalid expire time in '{c.Name}' command");
            return;
        }

        var entry = c.Find(1);
        if (entry is null)
        {
            RespWriter.Integer(c.Output, 0);
            return;
        }

        var at = c.Now + (amount * unit);
        var current = entry.ExpiresAt;
        if ((nx && current != 0) || (xx && current == 0) || (gt && (current == 0 || at <= current)) || (lt && current != 0 && at >= current))
        {
            RespWriter.Integer(c.Output, 0);
            return;
        }

        if (at <= c.Now)
        {
            c.Keys.Remove(c.Args[1]);
        }
        else
        {
            c.Keys.SetExpiry(entry, at);
        }

        RespWriter.Integer(c.Output, 1);
    }

    public static void Ttl(CommandContext c, bool milliseconds)
    {
        var entry = c.Find(1);
        if (entry is null)
        {
            RespWriter.Integer(c.Output, -2);
            return;
        }

        if (entry.ExpiresAt == 0)
        {
            RespWriter.Integer(c.Output, -1);
            return;
        }

        var left = Math.Max(0, entry.ExpiresAt - c.Now);
        RespWriter.Integer(c.Output, milliseconds ? left : (left + 500) / 1000);
    }

    public static void Persist(CommandContext c)
    {
        var entry = c.Find(1);
        RespWriter.Integer(c.Output, entry is not null && c.Keys.ClearExpiry(entry) ? 1 : 0);
    }

    public static void Type(CommandContext c) => RespWriter.Simple(c.Output, c.Find(1)?.TypeName ?? "none");

    /// <summary>SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]: one step of an iteration over the
    /// selected database's slot array (<see cref="Keyspace.Scan"/>): O(COUNT) slots per call, default 10 as
    /// in Redis, every key present throughout the iteration returned, cursor 0 at the end. MATCH and TYPE
    /// filter what the step found, so a step may return fewer keys than COUNT, or none, before the end.</summary>
    public static void Scan(CommandContext c)
    {
        if (!TryParseCursor(c.Args[1], out var cursor))
        {
            c.Error("ERR invalid cursor");
            return;
        }

        byte[]? pattern = null;
        string? type = null;
        long count = 10;
        for (var j = 2; j < c.Args.Count; j++)
        {
            var hasNext = j + 1 < c.Args.Count;
            if (c.Is(j, "MATCH"u8) && hasNext)
            {
                pattern = c.Args.ToArray(++j);
            }
            else if (c.Is(j, "COUNT"u8) && hasNext)
            {
                if (!c.TryInteger(++j, out count))
                {
                    return;
                }

                if (count < 1)
                {
                    c.SyntaxError();
                    return;
                }
            }
            else if (c.Is(j, "TYPE"u8) && hasNext)
            {
                type = System.Text.Encoding.UTF8.GetString(c.Args[++j]).ToLowerInvariant();
            }
            else
            {
                c.SyntaxError();
                return;
            }
        }

        var found = new List<Entry>();
        var next = c.Keys.Scan(cursor, count, c.Now, found);
        var matchAll = pattern is null || pattern is [(byte)'*'];
        var keys = new List<byte[]>(found.Count);
        foreach (var entry in found)
        {
            if ((matchAll || Glob.IsMatch(pattern, entry.Key)) && (type is null || entry.TypeName == type))
            {
                keys.Add(entry.Key);
            }
        }

        RespWriter.ArrayHeader(c.Output, 2);
        RespWriter.Bulk(c.Output, next.ToString(System.Globalization.CultureInfo.InvariantCulture));
        WriteKeys(c, keys);
    }

    /// <summary>A cursor as redis-server 7.0 reads one (C's <c>strtoul</c>, base 10): an optional sign
    /// (<c>-1</c> wraps to 2^64 − 1), digits, nothing after them, no leading space, no overflow; the
    /// empty string is 0.</summary>
    internal static bool TryParseCursor(ReadOnlySpan<byte> text, out ulong cursor)
    {
        cursor = 0;
        if (text.IsEmpty)
        {
            return true;
        }

        var negative = text[0] == (byte)'-';
        var digits = text[0] is (byte)'-' or (byte)'+' ? text[1..] : text;
        if (digits.IsEmpty)
        {
            return false;
        }

        foreach (var b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9' || cursor > (ulong.MaxValue - (ulong)(b - '0')) / 10)
            {
                return false;
            }

            cursor = (cursor * 10) + (ulong)(b - '0');
        }

        cursor = negative ? unchecked(0UL - cursor) : cursor;
        return true;
    }

    public static void Keys(CommandContext c) => WriteKeys(c, Matching(c, c.Args.ToArray(1), type: null));

    private static List<byte[]> Matching(CommandContext c, byte[]? pattern, string? type)
    {
        var keys = new List<byte[]>();
        var matchAll = pattern is null || pattern is [(byte)'*'];
        foreach (var (key, entry) in c.Keys.Entries)
        {
            if (Keyspace.IsLive(entry, c.Now) && (matchAll || Glob.IsMatch(pattern, key)) && (type is null || entry.TypeName == type))
            {
                keys.Add(key);
            }
        }

        return keys;
    }

    private static void WriteKeys(CommandContext c, List<byte[]> keys)
    {
        RespWriter.ArrayHeader(c.Output, keys.Count);
        foreach (var key in keys)
        {
            RespWriter.Bulk(c.Output, key);
        }
    }
}
