using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>SADD SREM SPOP SMEMBERS SCARD.</summary>
internal static class SetCommands
{
    public static void Add(CommandContext c)
    {
        if (!c.TryFind<KvSet>(1, out var entry, out _))
        {
            return;
        }

        var set = (KvSet?)entry?.Value ?? (KvSet)c.Keys.Set(c.Args[1], new KvSet()).Value;
        var lookup = set.GetAlternateLookup<ReadOnlySpan<byte>>();
        var added = 0;
        for (var i = 2; i < c.Args.Count; i++)
        {
            if (lookup.Add(c.Args[i]))
            {
                added++;
            }
        }

        RespWriter.Integer(c.Output, added);
    }

    public static void Remove(CommandContext c)
    {
        if (!c.TryFind<KvSet>(1, out _, out var set))
        {
            return;
        }

        if (set is null)
        {
            RespWriter.Integer(c.Output, 0);
            return;
        }

        var lookup = set.GetAlternateLookup<ReadOnlySpan<byte>>();
        var removed = 0;
        for (var i = 2; i < c.Args.Count; i++)
        {
            if (lookup.Remove(c.Args[i]))
            {
                removed++;
            }
        }

        if (set.Count == 0)
        {
            c.Keys.Remove(c.Args[1]);
        }

        RespWriter.Integer(c.Output, removed);
    }

    /// <summary>SPOP key [count]: random members (taken in hash order after a short random skip).</summary>
    public static void Pop(CommandContext c)
    {
        if (c.Args.Count > 3)
        {
            c.SyntaxError();
            return;
        }

        long count = -1;
        if (c.Args.Count == 3 && (!RespParser.TryParseLong(c.Args[2], out count) || count < 0))
        {
            c.Error("ERR value is out of range, must be positive");
            return;
        }

        if (!c.TryFind<KvSet>(1, out _, out var set))
        {
            return;
        }

        if (set is null)
        {
            if (count < 0)
            {
                RespWriter.Null(c.Output);
            }
            else
            {
                RespWriter.ArrayHeader(c.Output, 0);
            }

            return;
        }

        var n = count < 0 ? 1 : (int)Math.Min(count, set.Count);
        var popped = new List<byte[]>(n);
        // A random start within the first 64, so a pop stays O(count) on a large set.
        var skip = Random.Shared.Next(Math.Min(set.Count, 64));
        foreach (var member in set.Skip(set.Count - skip >= n ? skip : 0).Take(n))
        {
            popped.Add(member);
        }

        foreach (var member in popped)
        {
            set.Remove(member);
        }

        if (count < 0)
        {
            RespWriter.Bulk(c.Output, popped[0]);
        }
        else
        {
            RespWriter.ArrayHeader(c.Output, popped.Count);
            foreach (var member in popped)
            {
                RespWriter.Bulk(c.Output, member);
            }
        }

        if (set.Count == 0)
        {
            c.Keys.Remove(c.Args[1]);
        }
    }

    public static void Members(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.ArrayHeader(c.Output, 0);
                break;
            case KvSet set:
                RespWriter.ArrayHeader(c.Output, set.Count);
                foreach (var member in set)
                {
                    RespWriter.Bulk(c.Output, member);
                }

                break;
            default:
                c.WrongType();
                break;
        }
    }

    public static void Cardinality(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Integer(c.Output, 0);
                break;
            case KvSet set:
                RespWriter.Integer(c.Output, set.Count);
                break;
            default:
                c.WrongType();
                break;
        }
    }
}
