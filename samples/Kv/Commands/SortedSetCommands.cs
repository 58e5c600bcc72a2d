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

    /// <summary>ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES], checked
    /// in redis-server 7.0's order: the options (a LIMIT's integers as they come), then LIMIT without a
    /// range type and WITHSCORES with BYLEX, then the range, then the key's type.</summary>
    /// <remarks>With REV, BYSCORE and BYLEX take the range as max then min, and an index range counts from
    /// the highest member. LIMIT's offset below 0 gives nothing, its count below 0 means all the rest; like
    /// Redis, only a count other than −1 makes LIMIT an error by index.</remarks>
    public static void Range(CommandContext c)
    {
        var withScores = false;
        var reverse = false;
        var by = RangeBy.Rank;
        long offset = 0, limit = -1;
        for (var j = 4; j < c.Args.Count; j++)
        {
            if (c.Is(j, "WITHSCORES"u8))
            {
                withScores = true;
            }
            else if (c.Is(j, "LIMIT"u8) && c.Args.Count - j - 1 >= 2)
            {
                if (!c.TryInteger(j + 1, out offset) || !c.TryInteger(j + 2, out limit))
                {
                    return;
                }

                j += 2;
            }
            else if (c.Is(j, "REV"u8) && !reverse)
            {
                reverse = true;
            }
            else if (c.Is(j, "BYSCORE"u8) && by == RangeBy.Rank)
            {
                by = RangeBy.Score;
            }
            else if (c.Is(j, "BYLEX"u8) && by == RangeBy.Rank)
            {
                by = RangeBy.Lex;
            }
            else
            {
                c.SyntaxError();
                return;
            }
        }

        if (limit != -1 && by == RangeBy.Rank)
        {
            c.Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
            return;
        }

        if (withScores && by == RangeBy.Lex)
        {
            c.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
            return;
        }

        var (minIndex, maxIndex) = reverse && by != RangeBy.Rank ? (3, 2) : (2, 3);
        long start = 0, stop = 0;
        ScoreBound minScore = default, maxScore = default;
        LexBound minLex = default, maxLex = default;
        switch (by)
        {
            case RangeBy.Rank when !c.TryInteger(minIndex, out start) || !c.TryInteger(maxIndex, out stop):
                return;
            case RangeBy.Score when !ScoreBound.TryParse(c.Args[minIndex], out minScore) || !ScoreBound.TryParse(c.Args[maxIndex], out maxScore):
                c.Error("ERR min or max is not a float");
                return;
            case RangeBy.Lex when !LexBound.TryParse(c.Args[minIndex], out minLex) || !LexBound.TryParse(c.Args[maxIndex], out maxLex):
                c.Error("ERR min or max not valid string range item");
                return;
        }

        if (!c.TryFind<KvSortedSet>(1, out _, out var set))
        {
            return;
        }

        var found = set is null ? [] : by switch
        {
            RangeBy.Rank => ByRank(set, start, stop, reverse),
            RangeBy.Score => offset < 0 ? [] : set.ByScore(minScore.Value, minScore.Exclusive, maxScore.Value, maxScore.Exclusive, reverse)
                .Skip((int)Math.Min(offset, int.MaxValue)).Take(limit < 0 ? int.MaxValue : (int)Math.Min(limit, int.MaxValue)).ToList(),
            _ => ByLex(set, minLex, maxLex, reverse, offset, limit),
        };

        RespWriter.ArrayHeader(c.Output, withScores ? found.Count * 2 : found.Count);
        foreach (var (score, member) in found)
        {
            RespWriter.Bulk(c.Output, member);
            if (withScores)
            {
                RespWriter.BulkDouble(c.Output, score);
            }
        }
    }

    /// <summary>Members <paramref name="start"/> to <paramref name="stop"/> by index (negative from the end),
    /// counted from the highest member when <paramref name="reverse"/>.</summary>
    private static List<(double Score, byte[] Member)> ByRank(KvSortedSet set, long start, long stop, bool reverse)
    {
        var (from, to) = ListCommands.Clamp(start, stop, set.Count);
        var n = (int)Math.Max(0, to - from + 1);
        return (reverse ? set.Reversed : set.Ordered).Skip((int)from).Take(n).ToList();
    }

    /// <summary>BYLEX as redis-server walks a small sorted set (Redis leaves the result unspecified when the
    /// scores differ; with equal scores, the documented use, the order is the members' byte order): the range
    /// must be non-empty and overlap the set's ends; from the first member inside it (the last with REV),
    /// skip <paramref name="offset"/> members, then take members while they stay inside, up to
    /// <paramref name="limit"/> (all when negative).</summary>
    private static List<(double Score, byte[] Member)> ByLex(KvSortedSet set, LexBound min, LexBound max, bool reverse, long offset, long limit)
    {
        var found = new List<(double Score, byte[] Member)>();
        var (first, last) = set.Ends;
        if (offset < 0 || LexBound.IsEmptyRange(min, max) || !min.AtOrBelow(last.Member) || !max.AtOrAbove(first.Member))
        {
            return found;
        }

        using var walk = (reverse ? set.Reversed : set.Ordered).GetEnumerator();
        bool Enters(byte[] member) => reverse ? max.AtOrAbove(member) : min.AtOrBelow(member);
        bool Stays(byte[] member) => reverse ? min.AtOrBelow(member) : max.AtOrAbove(member);
        var more = walk.MoveNext();
        while (more && !Enters(walk.Current.Member))
        {
            more = walk.MoveNext();
        }

        if (!more || !Stays(walk.Current.Member))
        {
            return found;
        }

        for (var skipped = 0L; more && skipped < offset; skipped++)
        {
            more = walk.MoveNext();
        }

        while (more && (limit < 0 || found.Count < limit) && Stays(walk.Current.Member))
        {
            found.Add(walk.Current);
            more = walk.MoveNext();
        }

        return found;
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

    private enum RangeBy
    {
        Rank,
        Score,
        Lex,
    }

    /// <summary>One end of a BYSCORE range: a score, inclusive or (after <c>(</c>) exclusive.</summary>
    private readonly record struct ScoreBound(double Value, bool Exclusive)
    {
        /// <summary>Reads a bound as redis-server 7.0 does (<c>(</c> then C's <c>strtod</c>, which must use
        /// every byte, NaN refused): so <c>(</c> alone is (0, <c>" 1"</c> is 1, <c>0x1p1</c> is 2, <c>1e500</c>
        /// is inf, <c>infinity</c> is inf, <c>1e</c> is an error.</summary>
        public static bool TryParse(ReadOnlySpan<byte> text, out ScoreBound bound)
        {
            var exclusive = text is [(byte)'(', ..];
            var parsed = TryParseStrtod(exclusive ? text[1..] : text, out var value);
            bound = new ScoreBound(value, exclusive);
            return parsed;
        }
    }

    /// <summary>One end of a BYLEX range: <c>-</c> (below every member), <c>+</c> (above every member), or
    /// a member after <c>[</c> (inclusive) or <c>(</c> (exclusive); compared by bytes, as Redis's memcmp.</summary>
    private readonly record struct LexBound(int Infinity, byte[] Value, bool Exclusive)
    {
        public static bool TryParse(ReadOnlySpan<byte> text, out LexBound bound)
        {
            bound = default;
            if (text.IsEmpty)
            {
                return false;
            }

            // Redis reads the arguments as C strings here: "+" followed by a NUL byte is still "+".
            var alone = text.Length == 1 || text[1] == 0;
            switch (text[0])
            {
                case (byte)'+' when alone:
                    bound = new LexBound(1, [], true);
                    return true;
                case (byte)'-' when alone:
                    bound = new LexBound(-1, [], true);
                    return true;
                case (byte)'(':
                    bound = new LexBound(0, text[1..].ToArray(), true);
                    return true;
                case (byte)'[':
                    bound = new LexBound(0, text[1..].ToArray(), false);
                    return true;
                default:
                    return false;
            }
        }

        /// <summary>Whether no member can be in [min, max]: min above max, or equal with an end excluded.</summary>
        public static bool IsEmptyRange(LexBound min, LexBound max)
        {
            var order = min.Infinity == max.Infinity && min.Infinity != 0 ? 0
                : min.Infinity == -1 || max.Infinity == 1 ? -1
                : min.Infinity == 1 || max.Infinity == -1 ? 1
                : min.Value.AsSpan().SequenceCompareTo(max.Value);
            return order > 0 || (order == 0 && (min.Exclusive || max.Exclusive));
        }

        /// <summary>As a minimum: whether <paramref name="member"/> is at or above it.</summary>
        public bool AtOrBelow(byte[] member) => Infinity switch
        {
            -1 => true,
            1 => false,
            _ => Exclusive ? member.AsSpan().SequenceCompareTo(Value) > 0 : member.AsSpan().SequenceCompareTo(Value) >= 0,
        };

        /// <summary>As a maximum: whether <paramref name="member"/> is at or below it.</summary>
        public bool AtOrAbove(byte[] member) => Infinity switch
        {
            1 => true,
            -1 => false,
            _ => Exclusive ? member.AsSpan().SequenceCompareTo(Value) < 0 : member.AsSpan().SequenceCompareTo(Value) <= 0,
        };
    }

    /// <summary>C's <c>strtod</c> as Redis uses it for a range bound: leading white space, a sign, then
    /// <c>inf</c>/<c>infinity</c>, a decimal with an optional exponent, or a hexadecimal float
    /// (<c>0x</c>, hex digits, an optional <c>p</c> exponent); every byte must be used and NaN is refused.
    /// The empty string is 0 (strtod converts nothing and stops on the terminator, which Redis accepts).</summary>
    internal static bool TryParseStrtod(ReadOnlySpan<byte> text, out double value)
    {
        value = 0;
        if (text.IsEmpty)
        {
            return true;
        }

        var body = text.TrimStart(" \t\n\v\f\r"u8);
        var negative = body is [(byte)'-', ..];
        if (body is [(byte)'-' or (byte)'+', ..])
        {
            body = body[1..];
        }

        if (Ascii.EqualsIgnoreCase(body, "inf"u8) || Ascii.EqualsIgnoreCase(body, "infinity"u8))
        {
            value = double.PositiveInfinity;
        }
        else if (body.Length > 2 && body[0] == (byte)'0' && (body[1] | 0x20) == (byte)'x')
        {
            if (!TryParseHexFloat(body[2..], out value))
            {
                return false;
            }
        }
        else if (!IsDecimal(body) || !double.TryParse(body, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out value))
        {
            return false;
        }

        value = negative ? -value : value;
        return true;
    }

    /// <summary>Digits with at most one point (at least one digit), then optionally e, a sign and digits.</summary>
    private static bool IsDecimal(ReadOnlySpan<byte> text)
    {
        var i = 0;
        var digits = 0;
        while (i < text.Length && char.IsAsciiDigit((char)text[i]))
        {
            i++;
            digits++;
        }

        if (i < text.Length && text[i] == (byte)'.')
        {
            i++;
            while (i < text.Length && char.IsAsciiDigit((char)text[i]))
            {
                i++;
                digits++;
            }
        }

        if (digits == 0)
        {
            return false;
        }

        if (i < text.Length && (text[i] | 0x20) == (byte)'e')
        {
            i++;
            if (i < text.Length && text[i] is (byte)'+' or (byte)'-')
            {
                i++;
            }

            var exponentStart = i;
            while (i < text.Length && char.IsAsciiDigit((char)text[i]))
            {
                i++;
            }

            if (i == exponentStart)
            {
                return false;
            }
        }

        return i == text.Length;
    }

    /// <summary>The part of a hexadecimal float after <c>0x</c>: hex digits with at most one point (at
    /// least one digit), then optionally p, a sign and decimal digits (a power of two).</summary>
    private static bool TryParseHexFloat(ReadOnlySpan<byte> text, out double value)
    {
        value = 0;
        var i = 0;
        var digits = 0;
        var scale = 0;
        var point = false;
        for (; i < text.Length; i++)
        {
            if (text[i] == (byte)'.' && !point)
            {
                point = true;
                continue;
            }

            if (!char.IsAsciiHexDigit((char)text[i]))
            {
                break;
            }

            var digit = char.IsAsciiDigit((char)text[i]) ? text[i] - '0' : (text[i] | 0x20) - 'a' + 10;
            value = (value * 16) + digit;
            digits++;
            scale -= point ? 4 : 0;
        }

        if (digits == 0)
        {
            return false;
        }

        if (i < text.Length && (text[i] | 0x20) == (byte)'p')
        {
            i++;
            var exponentNegative = i < text.Length && text[i] == (byte)'-';
            if (i < text.Length && text[i] is (byte)'+' or (byte)'-')
            {
                i++;
            }

            var exponentStart = i;
            var exponent = 0;
            for (; i < text.Length && char.IsAsciiDigit((char)text[i]); i++)
            {
                exponent = Math.Min(100_000, (exponent * 10) + (text[i] - '0'));
            }

            if (i == exponentStart)
            {
                return false;
            }

            scale += exponentNegative ? -exponent : exponent;
        }

        value = Math.ScaleB(value, scale);
        return i == text.Length;
    }
}
