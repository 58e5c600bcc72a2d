using System.Buffers.Text;
using Sockeye.Samples.Kv.Resp;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>GET SET SETEX PSETEX SETNX GETDEL MGET MSET INCR DECR INCRBY DECRBY APPEND STRLEN, with Redis's replies.</summary>
internal static class StringCommands
{
    public static void Get(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Null(c.Output);
                break;
            case byte[] value:
                RespWriter.Bulk(c.Output, value);
                break;
            default:
                c.WrongType();
                break;
        }
    }

    /// <summary>SET key value [NX|XX] [GET] [EX s|PX ms|KEEPTTL], checked in Redis's order: the option
    /// list, then the expire time, then GET's type check, then NX/XX.</summary>
    public static void Set(CommandContext c)
    {
        bool nx = false, xx = false, get = false, keepTtl = false;
        int expireIndex = 0;
        long unit = 0;
        for (var j = 3; j < c.Args.Count; j++)
        {
            var hasNext = j + 1 < c.Args.Count;
            if (c.Is(j, "NX"u8) && !xx)
            {
                nx = true;
            }
            else if (c.Is(j, "XX"u8) && !nx)
            {
                xx = true;
            }
            else if (c.Is(j, "GET"u8))
            {
                get = true;
            }
            else if (c.Is(j, "KEEPTTL"u8) && expireIndex == 0)
            {
                keepTtl = true;
            }
            else if ((c.Is(j, "EX"u8) || c.Is(j, "PX"u8)) && !keepTtl && expireIndex == 0 && hasNext)
            {
                unit = c.Is(j, "EX"u8) ? 1000 : 1;
                expireIndex = ++j;
            }
            else
            {
                c.SyntaxError();
                return;
            }
        }

        long expiresAt = 0;
        if (expireIndex > 0)
        {
            if (!c.TryInteger(expireIndex, out var amount))
            {
                return;
            }

            if (amount <= 0 || amount > long.MaxValue / unit || amount * unit > long.MaxValue - c.Now)
            {
                c.Error("ERR invalid expire time in 'set' command");
                return;
            }

            expiresAt = c.Now + (amount * unit);
        }

        var existing = c.Find(1);
        if (get)
        {
            switch (existing?.Value)
            {
                case null:
                    RespWriter.Null(c.Output);
                    break;
                case byte[] old:
                    RespWriter.Bulk(c.Output, old);
                    break;
                default:
                    c.WrongType();
                    return;
            }
        }

        if ((nx && existing is not null) || (xx && existing is null))
        {
            if (!get)
            {
                RespWriter.Null(c.Output);
            }

            return;
        }

        var keptExpiry = keepTtl ? existing?.ExpiresAt ?? 0 : 0;
        var entry = c.Keys.Set(c.Args[1], c.Args.ToArray(2));
        if (expiresAt > 0 || keptExpiry > 0)
        {
            c.Keys.SetExpiry(entry, expiresAt > 0 ? expiresAt : keptExpiry);
        }

        if (!get)
        {
            RespWriter.Ok(c.Output);
        }
    }

    /// <summary>SETEX/PSETEX key time value; <paramref name="unit"/> is 1000 for seconds, 1 for milliseconds.</summary>
    public static void SetEx(CommandContext c, long unit)
    {
        if (!c.TryInteger(2, out var amount))
        {
            return;
        }

        if (amount <= 0 || amount > long.MaxValue / unit || amount * unit > long.MaxValue - c.Now)
        {
            c.Error($"ERR invalid expire time in '{c.Name}' command");
            return;
        }

        var entry = c.Keys.Set(c.Args[1], c.Args.ToArray(3));
        c.Keys.SetExpiry(entry, c.Now + (amount * unit));
        RespWriter.Ok(c.Output);
    }

    public static void SetNx(CommandContext c)
    {
        if (c.Find(1) is not null)
        {
            RespWriter.Integer(c.Output, 0);
            return;
        }

        c.Keys.Set(c.Args[1], c.Args.ToArray(2));
        RespWriter.Integer(c.Output, 1);
    }

    public static void GetDel(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Null(c.Output);
                break;
            case byte[] value:
                RespWriter.Bulk(c.Output, value);
                c.Keys.Remove(c.Args[1]);
                break;
            default:
                c.WrongType();
                break;
        }
    }

    public static void MGet(CommandContext c)
    {
        RespWriter.ArrayHeader(c.Output, c.Args.Count - 1);
        for (var i = 1; i < c.Args.Count; i++)
        {
            if (c.Find(i)?.Value is byte[] value)
            {
                RespWriter.Bulk(c.Output, value);
            }
            else
            {
                RespWriter.Null(c.Output);
            }
        }
    }

    public static void MSet(CommandContext c)
    {
        if (c.Args.Count % 2 == 0)
        {
            c.WrongArity();
            return;
        }

        for (var i = 1; i < c.Args.Count; i += 2)
        {
            c.Keys.Set(c.Args[i], c.Args.ToArray(i + 1));
        }

        RespWriter.Ok(c.Output);
    }

    public static void IncrByArgument(CommandContext c, bool negate)
    {
        if (!c.TryInteger(2, out var by))
        {
            return;
        }

        if (negate && by == long.MinValue)
        {
            c.Error("ERR decrement would overflow");
            return;
        }

        IncrBy(c, negate ? -by : by);
    }

    /// <summary>Adds <paramref name="by"/> to the integer stored at the key (0 when missing), keeping its expiry.</summary>
    public static void IncrBy(CommandContext c, long by)
    {
        var entry = c.Find(1);
        long current = 0;
        if (entry is not null)
        {
            if (entry.Value is not byte[] text)
            {
                c.WrongType();
                return;
            }

            if (!RespParser.TryParseLong(text, out current))
            {
                c.NotInteger();
                return;
            }
        }

        if ((by > 0 && current > long.MaxValue - by) || (by < 0 && current < long.MinValue - by))
        {
            c.Error("ERR increment or decrement would overflow");
            return;
        }

        var result = current + by;
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(result, digits, out var written);
        if (entry is null)
        {
            c.Keys.Set(c.Args[1], digits[..written].ToArray());
        }
        else
        {
            entry.Value = digits[..written].ToArray();
        }

        RespWriter.Integer(c.Output, result);
    }

    public static void Append(CommandContext c)
    {
        var entry = c.Find(1);
        if (entry is null)
        {
            c.Keys.Set(c.Args[1], c.Args.ToArray(2));
            RespWriter.Integer(c.Output, c.Args[2].Length);
            return;
        }

        if (entry.Value is not byte[] old)
        {
            c.WrongType();
            return;
        }

        if ((long)old.Length + c.Args[2].Length > c.Server.Limits.MaxBulk)
        {
            c.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            return;
        }

        var value = new byte[old.Length + c.Args[2].Length];
        old.CopyTo(value, 0);
        c.Args[2].CopyTo(value.AsSpan(old.Length));
        entry.Value = value;
        RespWriter.Integer(c.Output, value.Length);
    }

    public static void StrLen(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Integer(c.Output, 0);
                break;
            case byte[] value:
                RespWriter.Integer(c.Output, value.Length);
                break;
            default:
                c.WrongType();
                break;
        }
    }
}
