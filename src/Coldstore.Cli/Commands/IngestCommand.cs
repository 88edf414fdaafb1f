using System.CommandLine;
using Coldstore.Errors;
using Coldstore.Events;
using Coldstore.Services;
using Spectre.Console;

namespace Coldstore.Cli.Commands;

/// <summary><c>coldstore ingest</c>: insert Segment messages for a workspace through the normal insert path.</summary>
internal static class IngestCommand
{
    public static Command Create(CommandContext context)
    {
        var workspace = new Option<string>("--workspace", "-w") { Description = "The workspace id", Required = true };
        var file = new Option<string?>("--file", "-f") { Description = "A JSON Lines file of Segment messages, or - for stdin" };
        var generate = new Option<long?>("--generate", "-n") { Description = "Generate this many realistic messages instead" };
        var seed = new Option<int>("--seed") { Description = "Seed for --generate (same seed, same messages)", DefaultValueFactory = _ => 1 };
        var command = new Command("ingest", "Insert events for a workspace, from a file or generated.") { workspace, file, generate, seed };
        command.Validators.Add(result =>
        {
            var hasFile = result.GetValue(file) is not null;
            var count = result.GetValue(generate);
            if (hasFile == count.HasValue)
            {
                result.AddError("Give exactly one of --file and --generate.");
            }
            else if (count is < 0)
            {
                result.AddError($"--generate must be zero or more, not {count}.");
            }
        });
        command.SetAction((parseResult, cancellationToken) => context.RunAsync(parseResult, async (runtime, output) =>
        {
            var workspaceId = ColdstoreService.ParseWorkspaceId(parseResult.GetValue(workspace), "ingest");
            var path = parseResult.GetValue(file);
            var count = parseResult.GetValue(generate);
            await using var source = path is null ? null : await MessageSource.OpenAsync(path, workspaceId, cancellationToken).ConfigureAwait(false);
            var messages = source?.Messages ?? SegmentEventGenerator.Generate(count!.Value, parseResult.GetValue(seed));
            var total = source?.Count ?? count!.Value;

            IngestResult result;
            if (output.ShowProgress && total > 0)
            {
                result = await output.LiveAsync(() => output.Console.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .StartAsync(async progress =>
                    {
                        var task = progress.AddTask($"Ingesting into {workspaceId}", maxValue: total);
                        return await runtime.Service.IngestAsync(workspaceId, messages, new Progress<long>(rows => task.Value = rows), cancellationToken).ConfigureAwait(false);
                    })).ConfigureAwait(false);
            }
            else
            {
                result = await runtime.Service.IngestAsync(workspaceId, messages, null, cancellationToken).ConfigureAwait(false);
            }

            if (output.IsJson)
            {
                output.WriteJson(new { workspaceId = result.WorkspaceId, rows = result.Rows, durationMs = (long)result.Duration.TotalMilliseconds });
            }
            else
            {
                output.Info($"Ingested [green]{result.Rows:N0}[/] events into {result.WorkspaceId} in {result.Duration.TotalSeconds:F1} s.");
            }

            return ExitCodes.Ok;
        }, cancellationToken));
        return command;
    }

    /// <summary>
    /// A JSON Lines source validated completely before anything is inserted, so a bad line in the middle never
    /// leaves half a file ingested. Standard input is first copied to a temporary file to allow the second pass.
    /// </summary>
    private sealed class MessageSource : IAsyncDisposable
    {
        private readonly string _path;
        private readonly string _name;
        private readonly Guid _workspaceId;
        private readonly bool _temporary;

        private MessageSource(string path, string name, Guid workspaceId, bool temporary, long count)
        {
            _path = path;
            _name = name;
            _workspaceId = workspaceId;
            _temporary = temporary;
            Count = count;
        }

        public long Count { get; }

        public IEnumerable<SegmentMessage> Messages
        {
            get
            {
                using var reader = new StreamReader(_path);
                foreach (var message in JsonLinesReader.Read(reader, _workspaceId, _name))
                {
                    yield return message;
                }
            }
        }

        public static async Task<MessageSource> OpenAsync(string path, Guid workspaceId, CancellationToken cancellationToken)
        {
            var temporary = path == "-";
            var name = temporary ? "stdin" : path;
            if (temporary)
            {
                var copy = Path.GetTempFileName();
                await using (var target = File.Create(copy))
                {
                    await System.Console.OpenStandardInput().CopyToAsync(target, cancellationToken).ConfigureAwait(false);
                }

                path = copy;
            }
            else if (!File.Exists(path))
            {
                throw new WorkspaceOperationException(workspaceId, "read-events", $"The events file '{path}' does not exist; nothing was ingested for workspace {workspaceId}.", WorkspaceErrorKind.InvalidInput);
            }

            long count;
            using (var reader = new StreamReader(path))
            {
                count = JsonLinesReader.Read(reader, workspaceId, name).LongCount();
            }

            return new MessageSource(path, name, workspaceId, temporary, count);
        }

        public ValueTask DisposeAsync()
        {
            if (_temporary)
            {
                File.Delete(_path);
            }

            return ValueTask.CompletedTask;
        }
    }
}
