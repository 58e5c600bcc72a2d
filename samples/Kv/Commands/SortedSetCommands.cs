using System.Globalization;
using System.Text;
using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>ZADD ZPOPMIN ZRANGE ZCARD ZSCORE.</summary>
internal static class SortedSetCommands
{
    /// <summary>ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...], with Redis's checks in Redis's order.</summary>
    public static void Add(CommandContext c)
    {
        bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = false;
        var j = 2;
        for (; j < c.Args.Count; j++)
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
            else if (c.Is(j, "CH"u8))
            {
                ch = true;
            }
            else if (c.Is(j, "INCR"u8))
            {
                incr = true;
            }
            else
            {
                break;
            }
        }

        var elements = c.Args.Count - j;
        if (elements == 0 || elements % 2 != 0)
        {
            c.SyntaxError();
            return;
        }

        if (nx && xx)
        {
            c.Error("ERR XX and NX options at the same time are not compatible");
            return;
        }

        if ((gt && nx) || (lt && nx) || (gt && lt))
        {
            c.Error("ERR GT, LT, and/or NX options at the same time are not compatible");
            return;
        }

        if (incr && elements > 2)
        {
            c.Error("ERR INCR option supports a single increment-element pair");
            return;
        }

        var scores = new double[elements / 2];
        for (var i = 0; i < scores.Length; i++)
        {
            if (!TryParseScore(c.Args[j + (2 * i)], out scores[i]))
            {
                c.Error("ERR value is not a valid float");
                return;
            }
        }

        if (!c.TryFind<KvSortedSet>(1, out var entry, out _))
        {
            return;
        }

        if (entry is null && xx)
        {
            if (incr)
            {
                RespWriter.Null(c.Output);
            }
            else
            {
                RespWriter.Integer(c.Output, 0);
            }

            return;
        }

        var set = (KvSortedSet?)entry?.Value ?? (KvSortedSet)c.Keys.Set(c.Args[1], new KvSortedSet()).Value;
        int added = 0, changed = 0;
        double? incremented = null;
        for (var i = 0; i < scores.Length; i++)
        {
            var member = c.Args[j + (2 * i) + 1];
            var score = scores[i];
            if (set.TryGetScore(member, out var current))
            {
                if (nx)
                {
                    continue;
                }

                if (incr)
                {
                    score += current;
                    if (double.IsNaN(score))
                    {
                        c.Error("ERR resulting score is not a number (NaN)");
                        return;
                    }
                }

                if ((gt && score <= current) || (lt && score >= current))
                {
                    continue;
                }

                incremented = score;
                if (score != current)
                {
                    set.Set(member.ToArray(), score);
                    changed++;
                }
            }
            else if (!xx)
            {
                set.Set(member.ToArray(), score);
                added++;
                incremented = score;
            }
        }

        if (set.Count == 0)
        {
            c.Keys.Remove(c.Args[1]);
        }

        if (incr)
        {
            if (incremented is { } value)
            {
                RespWriter.BulkDouble(c.Output, value);
            }
            else
            {
                RespWriter.Null(c.Output);
            }
        }
        else
        {
            RespWriter.Integer(c.Output, ch ? added + changed : added);
        }
    }

    public static void PopMin(CommandContext c)
    {
        if (c.Args.Count > 3)
        {
            c.SyntaxError();
            return;
        }

        long count = 1;
        if (c.Args.Count == 3 && (!RespParser.TryParseLong(c.Args[2], out count) || count < 0))
        {
            c.Error("ERR value is out of range, must be positive");
            return;
        }

        if (!c.TryFind<KvSortedSet>(1, out _, out var set))
        {
            return;
        }

        if (set is null)
        {
            RespWriter.ArrayHeader(c.Output, 0);
            return;
        }

        var n = (int)Math.Min(count, set.Count);
        RespWriter.ArrayHeader(c.Output, n * 2);
        for (var i = 0; i < n; i++)
        {
            var (score, member) = set.PopMin();
            RespWriter.Bulk(c.Output, member);
            RespWriter.BulkDouble(c.Output, score);
        }

        if (set.Count == 0)
        {
            c.Keys.Remove(c.Args[1]);
        }
    }

    /// <summary>ZRANGE key start stop [WITHSCORES] (by index; BYSCORE, BYLEX, REV and LIMIT are not served).</summary>
    public static void Range(CommandContext c)
    {
        var withScores = false;
        for (var j = 4; j < c.Args.Count; j++)
        {
            if (c.Is(j, "WITHSCORES"u8))
            {
                withScores = true;
            }
            else
            {
                c.SyntaxError();
                return;
            }
        }

        if (!c.TryInteger(2, out var start) || !c.TryInteger(3, out var stop))
        {
            return;
        }

        if (!c.TryFind<KvSortedSet>(1, out _, out var set))
        {
            return;
        }

        if (set is null)
        {
            RespWriter.ArrayHeader(c.Output, 0);
            return;
        }

        var (from, to) = ListCommands.Clamp(start, stop, set.Count);
        var n = (int)Math.Max(0, to - from + 1);
        RespWriter.ArrayHeader(c.Output, withScores ? n * 2 : n);
        foreach (var (score, member) in set.Ordered.Skip((int)from).Take(n))
        {
            RespWriter.Bulk(c.Output, member);
            if (withScores)
            {
                RespWriter.BulkDouble(c.Output, score);
            }
        }
    }

    public static void Cardinality(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Integer(c.Output, 0);
                break;
            case KvSortedSet set:
                RespWriter.Integer(c.Output, set.Count);
                break;
            default:
                c.WrongType();
                break;
        }
    }

    public static void Score(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Null(c.Output);
                break;
            case KvSortedSet set when set.TryGetScore(c.Args[2], out var score):
                RespWriter.BulkDouble(c.Output, score);
                break;
            case KvSortedSet:
                RespWriter.Null(c.Output);
                break;
            default:
                c.WrongType();
                break;
        }
    }

    /// <summary>A score as Redis reads one: a decimal or <c>inf</c>/<c>+inf</c>/<c>-inf</c>; never NaN.</summary>
    internal static bool TryParseScore(ReadOnlySpan<byte> text, out double score)
    {
        if (Ascii.EqualsIgnoreCase(text, "inf"u8) || Ascii.EqualsIgnoreCase(text, "+inf"u8))
        {
            score = double.PositiveInfinity;
            return true;
        }

        if (Ascii.EqualsIgnoreCase(text, "-inf"u8))
        {
            score = double.NegativeInfinity;
            return true;
        }

        return double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out score)
            && double.IsFinite(score);
    }
}
