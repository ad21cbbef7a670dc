import { Migration } from "@medusajs/framework/mikro-orm/migrations"

export class Migration20261202170000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table if not exists "render_job_attachment" ("id" text not null, "job_id" text not null, "product_id" text not null, "image_urls" jsonb not null, "files" jsonb not null, "set_thumbnail" boolean not null default false, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), "deleted_at" timestamptz null, constraint "render_job_attachment_pkey" primary key ("id"));`
    )
    this.addSql(
      `CREATE INDEX IF NOT EXISTS "IDX_render_job_attachment_deleted_at" ON "render_job_attachment" (deleted_at) WHERE deleted_at IS NULL;`
    )
    this.addSql(
      `CREATE UNIQUE INDEX IF NOT EXISTS "IDX_render_job_attachment_job_id_unique" ON "render_job_attachment" (job_id) WHERE deleted_at IS NULL;`
    )
    this.addSql(
      `CREATE INDEX IF NOT EXISTS "IDX_render_job_attachment_product_id" ON "render_job_attachment" (product_id) WHERE deleted_at IS NULL;`
    )
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "render_job_attachment" cascade;`)
  }
}
