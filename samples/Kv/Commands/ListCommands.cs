using Sockeye.Samples.Kv.Resp;
using Sockeye.Samples.Kv.Store;

namespace Sockeye.Samples.Kv.Commands;

/// <summary>LPUSH RPUSH LPOP RPOP LRANGE LLEN.</summary>
internal static class ListCommands
{
    public static void Push(CommandContext c, bool front)
    {
        if (!c.TryFind<KvList>(1, out var entry, out _))
        {
            return;
        }

        var list = (KvList?)entry?.Value ?? (KvList)c.Keys.Set(c.Args[1], new KvList()).Value;
        for (var i = 2; i < c.Args.Count; i++)
        {
            if (front)
            {
                list.PushFront(c.Args.ToArray(i));
            }
            else
            {
                list.PushBack(c.Args.ToArray(i));
            }
        }

        RespWriter.Integer(c.Output, list.Count);
    }

    public static void Pop(CommandContext c, bool front)
    {
        if (c.Args.Count > 3)
        {
            c.SyntaxError();
            return;
        }

        long count = -1;
        if (c.Args.Count == 3)
        {
            if (!RespParser.TryParseLong(c.Args[2], out count) || count < 0)
            {
                c.Error("ERR value is out of range, must be positive");
                return;
            }
        }

        if (!c.TryFind<KvList>(1, out _, out var list))
        {
            return;
        }

        if (list is null)
        {
            if (count < 0)
            {
                RespWriter.Null(c.Output);
            }
            else
            {
                RespWriter.NullArray(c.Output);
            }

            return;
        }

        if (count < 0)
        {
            RespWriter.Bulk(c.Output, front ? list.PopFront() : list.PopBack());
        }
        else
        {
            var n = (int)Math.Min(count, list.Count);
            RespWriter.ArrayHeader(c.Output, n);
            for (var i = 0; i < n; i++)
            {
                RespWriter.Bulk(c.Output, front ? list.PopFront() : list.PopBack());
            }
        }

        if (list.Count == 0)
        {
            c.Keys.Remove(c.Args[1]);
        }
    }

    public static void Range(CommandContext c)
    {
        if (!c.TryInteger(2, out var start) || !c.TryInteger(3, out var stop))
        {
            return;
        }

        if (!c.TryFind<KvList>(1, out _, out var list))
        {
            return;
        }

        if (list is null)
        {
            RespWriter.ArrayHeader(c.Output, 0);
            return;
        }

        var (from, to) = Clamp(start, stop, list.Count);
        RespWriter.ArrayHeader(c.Output, (int)Math.Max(0, to - from + 1));
        for (var i = from; i <= to; i++)
        {
            RespWriter.Bulk(c.Output, list[(int)i]);
        }
    }

    public static void Length(CommandContext c)
    {
        switch (c.Find(1)?.Value)
        {
            case null:
                RespWriter.Integer(c.Output, 0);
                break;
            case KvList list:
                RespWriter.Integer(c.Output, list.Count);
                break;
            default:
                c.WrongType();
                break;
        }
    }

    /// <summary>Redis's index rules: negative counts from the end; out-of-range ends are clamped; an
    /// empty range has <c>to &lt; from</c>.</summary>
    internal static (long From, long To) Clamp(long start, long stop, int length)
    {
        if (start < 0)
        {
            start = Math.Max(0, length + start);
        }

        if (stop < 0)
        {
            stop = length + stop;
        }

        if (start > stop || start >= length)
        {
            return (0, -1);
        }

        return (start, Math.Min(stop, length - 1));
    }
}
