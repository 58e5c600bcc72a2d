using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>HSET HMSET HGET HDEL HGETALL HLEN.</summary>
internal static class HashCommands
{
    /// <summary>HMSET: HSET's work with OK as the reply (deprecated in Redis, still sent by clients).</summary>
    public static void MSet(CommandContext c)
    {
        if (c.Args.Count % 2 == 1)
        {
            c.WrongArity();
            return;
        }

        if (Store(c) is not null)
        {
            RespWriter.Ok(c.Output);
        }
    }

    public static void Set(CommandContext c)
    {
        if (c.Args.Count % 2 == 1)
        {
            c.WrongArity();
            return;
        }

        if (Store(c) is { } added)
        {
            RespWriter.Integer(c.Output, added);
        }
    }

    /// <summary>Stores the field/value pairs; the count of new fields, or null after a WRONGTYPE reply.</summary>
    private static int? Store(CommandContext c)
    {
        if (!c.TryFind<KvHash>(1, out var entry, out _))
        {
            return null;
        }

        var hash = (KvHash?)entry?.Value ?? (KvHash)c.Keys.Set(c.Args[1], new KvHash()).Value;
        var lookup = hash.GetAlternateLookup<ReadOnlySpan<byte>>();
        var added = 0;
        for (var i = 2; i < c.Args.Count; i += 2)
        {
            if (!lookup.ContainsKey(c.Args[i]))
            {
                added++;
            }

            lookup[c.Args[i]] = c.Args.ToArray(i + 1);
        }

        return added;
    }

    public static void Get(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Null(c.Output);
                break;
            case KvHash hash when hash.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(c.Args[2], out var value):
                RespWriter.Bulk(c.Output, value);
                break;
            case KvHash:
                RespWriter.Null(c.Output);
                break;
            default:
                c.WrongType();
                break;
        }
    }

    public static void Delete(CommandContext c)
    {
        if (!c.TryFind<KvHash>(1, out _, out var hash))
        {
            return;
        }

        if (hash is null)
        {
            RespWriter.Integer(c.Output, 0);
            return;
        }

        var lookup = hash.GetAlternateLookup<ReadOnlySpan<byte>>();
        var deleted = 0;
        for (var i = 2; i < c.Args.Count; i++)
        {
            if (lookup.Remove(c.Args[i]))
            {
                deleted++;
            }
        }

        if (hash.Count == 0)
        {
            c.Keys.Remove(c.Args[1]);
        }

        RespWriter.Integer(c.Output, deleted);
    }

    public static void GetAll(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.ArrayHeader(c.Output, 0);
                break;
            case KvHash hash:
                RespWriter.ArrayHeader(c.Output, hash.Count * 2);
                foreach (var (field, value) in hash)
                {
                    RespWriter.Bulk(c.Output, field);
                    RespWriter.Bulk(c.Output, value);
                }

                break;
            default:
                c.WrongType();
                break;
        }
    }

    public static void Length(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Integer(c.Output, 0);
                break;
            case KvHash hash:
                RespWriter.Integer(c.Output, hash.Count);
                break;
            default:
                c.WrongType();
                break;
        }
    }
}
